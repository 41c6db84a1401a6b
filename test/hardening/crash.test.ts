/**
 * Crash safety for real: a server in a child process is SIGKILLed while three resumable uploads
 * run (one of them replacing an existing file), then restarted on the same folder, and the uploads
 * are resumed to completion.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, type FileShareError, type TransferResult } from '../../src/index.ts';
import { USER } from './fixtures/user.ts';
import { defer, dispose, makeFile, sha256File, sizeOf, startServerProcess, tempDir, tempFiles, waitFor, walk, within } from './helpers.ts';

test.after.each(dispose);

const MiB = 1024 * 1024;

async function connectTo(port: number): Promise<FileShareClient> {
  const client = new FileShareClient({ host: '127.0.0.1', port, progressIntervalMs: 0 });
  defer(() => client.close());
  await client.connect();
  await client.login(USER.username, USER.password);
  return client;
}

/** SHA-256 of the first `bytes` bytes of a file. */
async function sha256Prefix(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  if (bytes > 0) for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

test('SIGKILL mid-upload: no target is truncated or lost, leftovers stay hidden, the uploads resume to completion', async () => {
  const root = await tempDir('fileshare-crash-root-');
  const local = await tempDir('fileshare-crash-local-');
  // each upload goes to its own folder, so each kept partial file is recognisable by its folder.
  // Three times the size at which the server is killed (killAtBytes) or more: the three run side by
  // side, so none can finish before all have sent that much
  const uploads = [
    { name: 'a', file: path.join(local, 'a.bin'), remote: '/a/a.bin', size: 20 * MiB, overwrite: false },
    { name: 'b', file: path.join(local, 'b.bin'), remote: '/b/b.bin', size: 24 * MiB + 12_345, overwrite: false },
    { name: 'c', file: path.join(local, 'c.bin'), remote: '/c/existing.bin', size: 18 * MiB + 1, overwrite: true },
  ];
  for (const u of uploads) {
    await fsp.mkdir(path.join(root, u.name));
    await makeFile(u.file, u.size);
  }
  const existing = path.join(root, 'c', 'existing.bin');
  await makeFile(existing, 3 * MiB + 7);
  const existingSha = await sha256File(existing);

  // 1. three resumable uploads; SIGKILL the server once each has sent a few MiB
  const first = await startServerProcess(root);
  const client = await connectTo(first.port);
  const sent = new Map<string, number>();
  const finished: string[] = [];
  let killed = false;
  const killAtBytes = 6 * MiB;
  const attempts = uploads.map((u) =>
    client
      .upload(u.file, u.remote, {
        resume: true,
        overwrite: u.overwrite,
        onProgress: (p) => {
          sent.set(u.name, p.bytes);
          if (!killed && uploads.every((x) => (sent.get(x.name) ?? 0) >= killAtBytes)) {
            killed = true;
            process.kill(first.pid, 'SIGKILL'); // synchronously, from inside the transfer
          }
        },
      })
      .then((r: TransferResult) => (finished.push(u.name), r)),
  );
  const settled = await within(Promise.allSettled(attempts), 30_000, 'the uploads to fail after the kill');
  assert.ok(killed, `the server was not killed: progress ${JSON.stringify([...sent])}`);
  assert.equal(finished, [], 'an upload completed before the kill: the test proves nothing');
  for (const s of settled) {
    assert.is(s.status, 'rejected');
    assert.is((s as PromiseRejectedResult).reason.code, 'ECLOSED', String((s as PromiseRejectedResult).reason));
  }
  assert.is(await within(first.exited, 5000, 'the killed server to exit'), 'SIGKILL');
  await client.close();

  // 2. the folder: no target name, the overwritten file intact, only hidden partial files
  const names = await walk(root);
  assert.not.ok(names.includes('a/a.bin'), 'a truncated target appeared');
  assert.not.ok(names.includes('b/b.bin'), 'a truncated target appeared');
  assert.is(await sha256File(existing), existingSha, 'the file being replaced was damaged');
  const leftovers = names.filter((n) => !['a', 'b', 'c', 'c/existing.bin'].includes(n));
  assert.ok(leftovers.length === 3, `expected one partial file per upload, got ${JSON.stringify(leftovers)}`);
  const kept = new Map<string, number>();
  for (const u of uploads) {
    const partial = leftovers.find((n) => n.startsWith(`${u.name}/`));
    assert.ok(partial, `no partial file for ${u.remote}: ${JSON.stringify(leftovers)}`);
    assert.ok(path.posix.basename(partial).startsWith('.fileshare-part-'), `unexpected leftover ${partial}`);
    const bytes = await sizeOf(path.join(root, partial));
    assert.ok(bytes > 0 && bytes <= (sent.get(u.name) ?? 0), `partial of ${u.name}: ${bytes} bytes, ${sent.get(u.name)} sent`);
    // what the dead server kept is exactly the start of the file: never garbage, never a gap
    assert.is(
      await sha256Prefix(path.join(root, partial), bytes),
      await sha256Prefix(u.file, bytes),
      `partial of ${u.name} is not a prefix`,
    );
    kept.set(u.name, bytes);
  }

  // 3. a restarted server hides the leftovers from listings
  const second = await startServerProcess(root);
  const client2 = await connectTo(second.port);
  assert.equal(
    (await client2.list('/')).map((e) => e.name),
    ['a', 'b', 'c'],
  );
  assert.equal(await client2.list('/a'), []);
  assert.equal(await client2.list('/b'), []);
  assert.equal(
    (await client2.list('/c')).map((e) => e.name),
    ['existing.bin'],
  );

  // 4. resume all three: they continue after the kept bytes and complete with matching SHA-256
  const firstProgress = new Map<string, number>();
  const results = await within(
    Promise.all(
      uploads.map((u) =>
        client2.upload(u.file, u.remote, {
          resume: true,
          overwrite: u.overwrite,
          onProgress: (p) => {
            if (!firstProgress.has(u.name)) firstProgress.set(u.name, p.bytes);
          },
        }),
      ),
    ),
    60_000,
    'the resumed uploads',
  );
  for (const [i, u] of uploads.entries()) {
    const localSha = await sha256File(u.file);
    assert.is(results[i]!.bytes, u.size);
    assert.is(results[i]!.sha256, localSha);
    assert.is(await sha256File(path.join(root, u.remote)), localSha, `${u.remote} on the server`);
    const resumedAt = firstProgress.get(u.name) ?? -1;
    assert.ok(
      resumedAt >= kept.get(u.name)!,
      `${u.name} restarted instead of resuming: first progress ${resumedAt}, kept ${kept.get(u.name)}`,
    );
  }
  assert.equal(await tempFiles(root), [], 'temporary files remain after the resumed uploads');
  await client2.close();
  await second.kill();
});

test('a server killed during plain uploads: no target, the old file intact, a hidden leftover that a restarted server sweeps', async () => {
  const root = await tempDir('fileshare-crash-root-');
  const local = await tempDir('fileshare-crash-local-');
  const file = await makeFile(path.join(local, 'big.bin'), 16 * MiB);
  await makeFile(path.join(root, 'old.bin'), MiB);
  const oldSha = await sha256File(path.join(root, 'old.bin'));
  const server = await startServerProcess(root);
  const client = await connectTo(server.port);
  let killed = false;
  const kill = (bytes: number) => {
    if (!killed && bytes >= 4 * MiB) {
      killed = true;
      process.kill(server.pid, 'SIGKILL');
    }
  };
  const fresh = client.upload(file, '/new.bin', { onProgress: (p) => kill(p.bytes) });
  const replacing = client.upload(file, '/old.bin', { overwrite: true, onProgress: (p) => kill(p.bytes) });
  const outcomes = await within(Promise.allSettled([fresh, replacing]), 30_000, 'the uploads to fail');
  assert.ok(killed);
  for (const o of outcomes) assert.is(o.status, 'rejected', 'an upload completed before the kill');
  for (const o of outcomes) assert.is(((o as PromiseRejectedResult).reason as FileShareError).code, 'ECLOSED');
  await within(server.exited, 5000, 'the server to exit');
  const names = await walk(root);
  assert.not.ok(names.includes('new.bin'));
  assert.is(await sha256File(path.join(root, 'old.bin')), oldSha);
  for (const n of names.filter((x) => x !== 'old.bin')) assert.ok(n.startsWith('.fileshare-part-'), `unexpected ${n}`);
  const leftovers = names.filter((x) => x !== 'old.bin');
  assert.ok(leftovers.length > 0, 'no leftover: the kill came too late to test the sweep');
  // a plain upload's leftover can never complete: a restarted server hides it, then sweeps it
  // (after min(resumableUploadTtl, 1 h) without change: 1 s here)
  const again = await startServerProcess(root, { resumableUploadTtl: 1000 });
  const client2 = await connectTo(again.port);
  assert.equal(
    (await client2.list('/')).map((e) => e.name),
    ['old.bin'],
  );
  await waitFor(async () => (await walk(root)).length === 1, 5000, 'the restarted server to sweep the leftovers');
  assert.is(await sha256File(path.join(root, 'old.bin')), oldSha);
});

test.run();
