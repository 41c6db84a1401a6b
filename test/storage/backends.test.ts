/**
 * The core acceptance of the library, run against every storage backend from this one file:
 * every command through a real client and server, overwrite rules (also under concurrent
 * creates), path escapes, aborts, resume, quotas. The local folder always runs; the S3 backend
 * runs against the real S3 API that .ci/run starts (Ceph radosgw), in a fresh bucket per test.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { S3Client } from '@aws-sdk/client-s3';
import { FileShareClient, LocalStorage, type Storage } from '../../src/index.ts';
import { defer, dispose, randomData, rejects, tempDir, testServer, waitFor, within } from '../core/helpers.ts';
import { missingService, s3Settings } from '../services/env.ts';
import { allKeys, pendingUploads, s3Storage } from '../services/s3.ts';

const MiB = 1024 * 1024;

interface Backend {
  /** A fresh, empty storage, cleaned up after the test. */
  make(): Promise<{ storage: Storage; s3?: { client: S3Client; bucket: string } }>;
}

const backends: Record<string, Backend> = {
  local: {
    async make() {
      return { storage: new LocalStorage(await tempDir('fileshare-backend-')) };
    },
  },
};
const s3 = s3Settings();
if (s3) {
  backends.s3 = {
    async make() {
      // 5 MiB parts (the minimum): files from 5 MiB up take the multipart path
      const made = await s3Storage(s3, { partSize: 5 * MiB, concurrency: 3 });
      defer(made.remove);
      return { storage: made.storage, s3: { client: made.client, bucket: made.bucket } };
    },
  };
} else {
  missingService('S3', 'storage/backends.test.ts');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function download(client: FileShareClient, remote: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.download(
    remote,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

for (const [name, backend] of Object.entries(backends)) {
  const it = suite(`backend ${name}`);
  it.after.each(dispose);

  const start = async (users?: NonNullable<Parameters<typeof testServer>[0]>['users']) => {
    const made = await backend.make();
    const t = await testServer({ users, server: { root: made.storage } });
    return { ...made, t };
  };

  it('mkdir, upload, list, stat, download, rename, delete, rmdir: results and error codes', async () => {
    const { t } = await start();
    const c = await t.connect();
    await c.mkdir('/docs');
    await rejects(c.mkdir('/docs'), 'EEXIST');
    await rejects(c.mkdir('/nope/deeper'), 'ENOENT');
    await c.mkdir('/x/y/z', { recursive: true });
    await c.upload(Readable.from([Buffer.from('hello')]), '/docs/a.txt');
    await c.upload(Readable.from([Buffer.alloc(0)]), '/empty.bin');
    await rejects(c.mkdir('/docs/a.txt/sub'), 'ENOTDIR');
    await rejects(c.upload(Readable.from([Buffer.from('x')]), '/docs/a.txt/f'), 'ENOTDIR');
    await rejects(c.upload(Readable.from([Buffer.from('x')]), '/missing/f'), 'ENOENT');
    await rejects(c.upload(Readable.from([Buffer.from('x')]), '/docs'), 'EISDIR');
    assert.equal(
      (await c.list('/')).map((e) => [e.name, e.type]),
      [
        ['docs', 'directory'],
        ['empty.bin', 'file'],
        ['x', 'directory'],
      ],
    );
    assert.equal(
      (await c.list('/docs')).map((e) => [e.name, e.type, e.size]),
      [['a.txt', 'file', 5]],
    );
    assert.equal(await c.list('/x/y/z'), []);
    await rejects(c.list('/missing'), 'ENOENT');
    await rejects(c.list('/docs/a.txt'), 'ENOTDIR');
    const st = await c.stat('/docs/a.txt');
    assert.is(st.type, 'file');
    assert.is(st.size, 5);
    assert.ok(st.mtime > 0);
    assert.is((await c.stat('/docs')).type, 'directory');
    assert.is((await c.stat('/')).type, 'directory');
    await rejects(c.stat('/nothing'), 'ENOENT');
    assert.is((await download(c, '/docs/a.txt')).toString(), 'hello');
    assert.is((await download(c, '/empty.bin')).length, 0);
    await rejects(download(c, '/docs'), 'EISDIR');
    await rejects(download(c, '/nothing'), 'ENOENT');
    await c.rename('/docs/a.txt', '/x/b.txt');
    await rejects(c.stat('/docs/a.txt'), 'ENOENT');
    assert.is((await download(c, '/x/b.txt')).toString(), 'hello');
    await rejects(c.rename('/x/b.txt', '/empty.bin'), 'EEXIST');
    await rejects(c.rename('/nothing', '/n2'), 'ENOENT');
    await rejects(c.rename('/x', '/x/y/inside'), 'EINVAL');
    await c.rename('/x', '/moved'); // a folder with contents
    assert.equal(
      (await c.list('/moved')).map((e) => e.name),
      ['b.txt', 'y'],
    );
    assert.equal(await c.list('/moved/y/z'), []);
    await rejects(c.stat('/x'), 'ENOENT');
    await rejects(c.delete('/moved'), 'EISDIR');
    await rejects(c.delete('/nothing'), 'ENOENT');
    await c.delete('/moved/b.txt');
    await rejects(c.rmdir('/moved'), 'ENOTEMPTY');
    await rejects(c.rmdir('/empty.bin'), 'ENOTDIR');
    await rejects(c.rmdir('/'), 'EACCES');
    await c.rmdir('/docs');
    await c.rmdir('/moved', { recursive: true });
    assert.equal(
      (await c.list('/')).map((e) => e.name),
      ['empty.bin'],
    );
  });

  it('a multipart-sized file (12 MiB) round-trips with matching SHA-256; download resumes at an offset', async () => {
    const { t } = await start();
    const c = await t.connect();
    const data = randomData(12 * MiB + 7);
    const up = await within(c.upload(Readable.from([data]), '/big.bin', { size: data.length }), 60_000, 'the upload');
    assert.is(up.sha256, sha256(data));
    const unannounced = await within(c.upload(Readable.from([data.subarray(0, 6 * MiB + 1)]), '/big2.bin'), 60_000, 'the upload');
    assert.is(unannounced.bytes, 6 * MiB + 1);
    const back = await download(c, '/big.bin');
    assert.is(sha256(back), sha256(data));
    assert.is((await c.stat('/big2.bin')).size, 6 * MiB + 1);
    // a partial local file is continued with a ranged read from the backend
    const local = await tempDir();
    const { writeFile, readFile } = await import('node:fs/promises');
    await writeFile(`${local}/big.bin`, data.subarray(0, 3 * MiB));
    const resumed = await c.download('/big.bin', `${local}/big.bin`, { resume: true });
    assert.is(resumed.sha256, sha256(data));
    assert.ok((await readFile(`${local}/big.bin`)).equals(data));
  });

  it('overwrite: false never replaces a file, also when ten uploads create the same name at once', async () => {
    const { t } = await start();
    const c = await t.connect();
    await c.upload(Readable.from([Buffer.from('first')]), '/f.txt');
    await rejects(c.upload(Readable.from([Buffer.from('second')]), '/f.txt'), 'EEXIST');
    assert.is((await download(c, '/f.txt')).toString(), 'first');
    await c.upload(Readable.from([Buffer.from('third')]), '/f.txt', { overwrite: true });
    assert.is((await download(c, '/f.txt')).toString(), 'third');
    // concurrent creates, small (one PutObject) and multipart-sized: exactly one wins each time
    for (const size of [1000, 6 * MiB]) {
      const clients = await Promise.all(Array.from({ length: 5 }, () => t.connect()));
      const bodies = clients.map(() => randomData(size));
      const results = await within(
        Promise.allSettled(clients.map((cl, i) => cl.upload(Readable.from([bodies[i]!]), `/race-${size}.bin`, { size }))),
        120_000,
        'the racing uploads',
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.is(won.length, 1, `exactly one upload must win, got ${won.length}`);
      for (const r of results) if (r.status === 'rejected') assert.is((r.reason as { code?: string }).code, 'EEXIST');
      assert.is(sha256(await download(c, `/race-${size}.bin`)), sha256(bodies[won[0]!]!));
    }
  });

  it("paths: .., //, backslashes, percent-encodings and Unicode stay inside the user's home", async () => {
    const made = await backend.make();
    const t = await testServer({
      users: { alice: { password: 'alice-pw', home: 'alice' }, bob: { password: 'bob-pw', home: 'bob' } },
      server: { root: made.storage },
    });
    const bob = await t.connect('bob', 'bob-pw');
    await bob.upload(Readable.from([Buffer.from('bob secret')]), '/secret.txt');
    const alice = await t.connect('alice', 'alice-pw');
    await rejects(alice.stat('/../bob/secret.txt'), 'EACCES');
    await rejects(alice.list('/..'), 'EACCES');
    await rejects(alice.upload(Readable.from([Buffer.from('x')]), '../bob/secret.txt', { overwrite: true }), 'EACCES');
    const odd = ['a\\..\\..\\bob', '%2e%2e', '%2e%2e%2fbob%2fsecret.txt', 'ünïcödé ✓', '..\u2215bob', 'x%00y'];
    for (const n of odd) await alice.upload(Readable.from([Buffer.from(n)]), `//${n}`);
    await alice.mkdir('//dir//sub', { recursive: true });
    const names = (await alice.list('/')).map((e) => e.name);
    assert.equal(names, [...odd, 'dir'].sort());
    for (const n of odd) assert.is((await download(alice, `/${n}`)).toString(), n);
    assert.is((await download(bob, '/secret.txt')).toString(), 'bob secret');
    assert.equal(
      (await bob.list('/')).map((e) => e.name),
      ['secret.txt'],
    );
    await rejects(alice.stat('/.fileshare-part-s3-state'), 'EACCES'); // internal names cannot be named
    if (made.s3) {
      const keys = await allKeys(made.s3.client, made.s3.bucket);
      for (const key of keys)
        assert.ok(key.startsWith('alice/') || key.startsWith('bob/'), `a key outside the homes: ${JSON.stringify(key)}`);
      for (const n of odd) assert.ok(keys.includes(`alice/${n}`), `missing key alice/${n}`);
    }
  });

  it('an aborted upload leaves nothing under its name (nor, on S3, an unfinished multipart upload)', async () => {
    const made = await backend.make();
    const t = await testServer({ server: { root: made.storage, progressIntervalMs: 0 } });
    const c = await t.connect();
    const controller = new AbortController();
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= 40 * MiB) return this.push(null);
        sent += MiB;
        this.push(randomData(MiB));
      },
    });
    const attempt = c.upload(source, '/aborted.bin', {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytes >= 12 * MiB) controller.abort();
      },
    });
    await rejects(within(attempt, 60_000, 'the aborted upload'), 'EABORTED');
    await rejects(c.stat('/aborted.bin'), 'ENOENT');
    assert.equal(
      (await c.list('/')).map((e) => e.name),
      [],
    );
    if (made.s3) {
      const { client, bucket } = made.s3;
      await waitFor(async () => (await pendingUploads(client, bucket)).length === 0, 20_000, 'the multipart upload to be aborted');
      assert.equal(await allKeys(client, bucket), []);
    }
    await c.upload(Readable.from([Buffer.from('still works')]), '/after.txt');
  });

  it('resume: an interrupted resumable upload completes with the right SHA-256 on reconnect', async () => {
    const made = await backend.make();
    const t = await testServer({ server: { root: made.storage, progressIntervalMs: 0 }, client: { progressIntervalMs: 0 } });
    const local = await tempDir();
    const data = randomData(16 * MiB + 3);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${local}/data.bin`, data);
    const first = await t.connect();
    let fired = false;
    const attempt = first.upload(`${local}/data.bin`, '/data.bin', {
      resume: true,
      onProgress: (p) => {
        if (!fired && p.bytes >= 12 * MiB) {
          fired = true;
          void first.close();
        }
      },
    });
    await rejects(within(attempt, 60_000, 'the interrupted upload'), 'ECLOSED');
    await waitFor(() => t.server.connectionCount === 0, 10_000, 'the server to drop the connection');
    const second = await t.connect();
    await rejects(second.stat('/data.bin'), 'ENOENT');
    if (made.s3) {
      // the finished parts are kept (one multipart upload) with their saved state
      assert.is((await pendingUploads(made.s3.client, made.s3.bucket)).length, 1);
      assert.ok(
        (await allKeys(made.s3.client, made.s3.bucket)).some((k) => k.includes('s3-state/uploads/')),
        'no saved state',
      );
    }
    let resumedFrom = -1;
    t.server.metrics.once('progress', (p) => (resumedFrom = p.bytes));
    const done = await within(second.upload(`${local}/data.bin`, '/data.bin', { resume: true }), 60_000, 'the resumed upload');
    assert.is(done.sha256, sha256(data));
    assert.is(sha256(await download(second, '/data.bin')), sha256(data));
    assert.ok(resumedFrom >= 5 * MiB, `the upload resumed from ${resumedFrom}, not from the kept bytes`);
    if (made.s3) {
      assert.equal(await pendingUploads(made.s3.client, made.s3.bucket), []);
      assert.equal(
        (await allKeys(made.s3.client, made.s3.bucket)).filter((k) => k.includes('s3-state')),
        [],
        'state or lock left behind',
      );
    }
  });

  it('quota: parallel uploads of one user never exceed it', async () => {
    const made = await backend.make();
    const t = await testServer({ users: { q: { password: 'q-pw', home: 'q', quotaBytes: 10 * MiB } }, server: { root: made.storage } });
    const clients = await Promise.all(Array.from({ length: 3 }, () => t.connect('q', 'q-pw')));
    const results = await within(
      Promise.allSettled(clients.map((c, i) => c.upload(Readable.from([randomData(4 * MiB)]), `/f${i}.bin`, { size: 4 * MiB }))),
      60_000,
      'the uploads',
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.is(ok, 2, `two 4 MiB uploads fit a 10 MiB quota, three do not (got ${ok})`);
    for (const r of results) if (r.status === 'rejected') assert.is((r.reason as { code?: string }).code, 'EQUOTA');
    const used = (await clients[0]!.list('/')).reduce((sum, e) => sum + e.size, 0);
    assert.ok(used <= 10 * MiB);
  });

  it.run();
}
