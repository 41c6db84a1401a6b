/**
 * Resumable transfers through the public client API: uploads continued after a dropped
 * connection, a changed local file detected by the prefix hash, downloads continued after an
 * abort, a corrupted local partial file, and the expiry of unfinished uploads.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, FileShareServer, LocalStorage, type Storage } from '../../src/index.ts';
import { encodeHeader, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import {
  RawClient,
  authFor,
  defer,
  dispose,
  json,
  makeFile,
  relay,
  sha256,
  rejects,
  sha256File,
  sizeOf,
  sleep,
  tempDir,
  tempFiles,
  testServer,
  waitFor,
  walk,
  within,
} from './helpers.ts';

test.after.each(dispose);

const MiB = 1024 * 1024;
/** Progress after every chunk, so that a test can interrupt a transfer at a given point. */
const eachChunk = { progressIntervalMs: 0 };

/**
 * Start a resumable upload and cut it off once `atBytes` were sent, with `interrupt` (close the
 * client, abort...). Resolves to the error the upload rejected with.
 */
async function interruptedUpload(
  client: FileShareClient,
  file: string,
  remote: string,
  atBytes: number,
  interrupt: () => void,
  extra: { overwrite?: boolean } = {},
) {
  let fired = false;
  const attempt = client.upload(file, remote, {
    ...extra,
    resume: true,
    onProgress: (p) => {
      if (!fired && p.bytes >= atBytes) {
        fired = true;
        interrupt();
      }
    },
  });
  const error = await rejects(within(attempt, 20_000, 'the interrupted upload'), 'ECLOSED');
  assert.ok(fired, 'the upload was not interrupted');
  return error;
}

/** Wait until the server kept exactly one partial file and no connection holds it; its path and size. */
async function keptPartial(t: { root: string; server: { connectionCount: number } }): Promise<{ file: string; bytes: number }> {
  await waitFor(() => t.server.connectionCount === 0, 5000, 'the server to drop the interrupted connection');
  const temps = await tempFiles(t.root);
  assert.is(temps.length, 1, `expected one partial file, got ${JSON.stringify(temps)}`);
  const file = path.join(t.root, temps[0]!);
  return { file, bytes: await sizeOf(file) };
}

test('upload: a dropped connection (client.close() mid-upload) is resumed from the kept bytes, verified by SHA-256', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'data.bin'), 12 * MiB + 5);
  const first = await t.connect();
  await interruptedUpload(first, file, '/data.bin', 4 * MiB, () => void first.close());
  const kept = await keptPartial(t);
  assert.ok(kept.bytes > 0, 'nothing was kept');
  assert.equal(
    (await walk(t.root)).filter((n) => !n.startsWith('.fileshare-part-')),
    [],
    'something visible appeared',
  );

  const second = await t.connect();
  assert.equal(await second.list('/'), [], 'the partial file is listed');
  let firstProgress = -1;
  const result = await within(
    second.upload(file, '/data.bin', { resume: true, onProgress: (p) => (firstProgress = firstProgress < 0 ? p.bytes : firstProgress) }),
    20_000,
    'the resumed upload',
  );
  const sha = await sha256File(file);
  assert.is(result.sha256, sha);
  assert.is(result.bytes, 12 * MiB + 5);
  assert.ok(firstProgress >= kept.bytes, `restarted from zero: first progress ${firstProgress}, kept ${kept.bytes}`);
  assert.is(await sha256File(path.join(t.root, 'data.bin')), sha);
  assert.equal(await tempFiles(t.root), []);
});

test('upload: a reconnect right after the drop resumes too (the old attempt may still hold the file)', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'quick.bin'), 10 * MiB);
  const first = await t.connect();
  const second = await t.connect(); // logged in before the drop: the retry goes out at once
  await interruptedUpload(first, file, '/quick.bin', 3 * MiB, () => void first.close());
  const result = await within(second.upload(file, '/quick.bin', { resume: true }), 20_000, 'the immediate retry');
  assert.is(result.sha256, await sha256File(file));
  assert.is(await sha256File(path.join(t.root, 'quick.bin')), result.sha256);
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, 'no temp files');
});

test('upload: after a connection died silently (no FIN), a new connection resumes the upload at once', async () => {
  const t = await testServer({ client: eachChunk, server: { idleTimeout: 60_000 } });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'far.bin'), 10 * MiB);
  const network = await relay(t.port);
  const first = new FileShareClient({ host: '127.0.0.1', port: network.port, progressIntervalMs: 0 });
  defer(() => first.close());
  await first.connect();
  await first.login('alice', 'alice-password');
  // the network dies; the client gives up on the connection (its own close never reaches the server)
  await interruptedUpload(first, file, '/far.bin', 3 * MiB, () => {
    network.freeze();
    void first.close();
  });
  assert.is(t.server.connectionCount, 1, 'the server should not know yet');
  const second = await t.connect();
  let firstProgress = -1;
  const result = await within(
    second.upload(file, '/far.bin', { resume: true, onProgress: (p) => (firstProgress = firstProgress < 0 ? p.bytes : firstProgress) }),
    10_000,
    'the resumed upload',
  );
  assert.is(result.sha256, await sha256File(file));
  assert.ok(firstProgress > 0, `it restarted from zero (first progress ${firstProgress})`);
  assert.is(await sha256File(path.join(t.root, 'far.bin')), result.sha256);
  assert.equal(await tempFiles(t.root), []);
});

test('upload: a connection that died silently is dropped by the idle timeout, and its upload kept for a resume', async () => {
  const t = await testServer({ client: eachChunk, server: { idleTimeout: 400 } });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'far.bin'), 10 * MiB);
  const network = await relay(t.port);
  const first = new FileShareClient({ host: '127.0.0.1', port: network.port, progressIntervalMs: 0 });
  defer(() => first.close());
  await first.connect();
  await first.login('alice', 'alice-password');
  await interruptedUpload(first, file, '/far.bin', 3 * MiB, () => {
    network.freeze();
    void first.close();
  });
  await waitFor(() => t.server.connectionCount === 0, 4000, 'the server to drop the dead connection');
  const temps = await tempFiles(t.root);
  assert.is(temps.length, 1, 'the data of the resumable upload was not kept');
  assert.ok((await sizeOf(path.join(t.root, temps[0]!))) > 0);
});

test('abort over a connection that died silently settles at once (EABORTED); both transfers then resume elsewhere', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'up.bin'), 10 * MiB);
  const remote = await makeFile(path.join(t.root, 'down.bin'), 10 * MiB);
  const network = await relay(t.port);
  const viaRelay = new FileShareClient({ host: '127.0.0.1', port: network.port, progressIntervalMs: 0 });
  defer(() => viaRelay.close());
  await viaRelay.connect();
  await viaRelay.login('alice', 'alice-password');
  const up = new AbortController();
  const down = new AbortController();
  let frozen = false;
  const freezeAt = (bytes: number) => {
    if (!frozen && bytes >= 2 * MiB) {
      frozen = true;
      network.freeze(); // nothing passes any more, in either direction
      setTimeout(() => (up.abort(), down.abort()), 50);
    }
  };
  const target = path.join(local, 'down.bin');
  const results = await within(
    Promise.allSettled([
      viaRelay.upload(file, '/up.bin', { resume: true, signal: up.signal, onProgress: (p) => freezeAt(p.bytes) }),
      viaRelay.download('/down.bin', target, { resume: true, signal: down.signal, onProgress: (p) => freezeAt(p.bytes) }),
    ]),
    5000,
    'the aborted transfers to settle',
  );
  for (const r of results) assert.is(r.status === 'rejected' && (r.reason as { code?: string }).code, 'EABORTED');
  const partial = await sizeOf(path.join(local, '.down.bin.fileshare-partial'));
  assert.ok(partial > 0, 'the resumable download kept nothing');

  const direct = await t.connect();
  let firstDown = -1;
  const got = await direct.download('/down.bin', target, {
    resume: true,
    onProgress: (p) => (firstDown = firstDown < 0 ? p.bytes : firstDown),
  });
  assert.is(got.sha256, await sha256File(remote));
  assert.ok(firstDown >= partial, `the download restarted: first progress ${firstDown}, kept ${partial}`);
  const sent = await within(direct.upload(file, '/up.bin', { resume: true }), 10_000, 'the resumed upload'); // takes over from the dead attempt
  assert.is(sent.sha256, await sha256File(file));
  assert.equal(await tempFiles(t.root), []);
});

test('upload: a graceful restart (close() cutting off the upload after closeTimeout) keeps the data; the next server resumes it', async () => {
  const root = await tempDir('fileshare-restart-');
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'r.bin'), 24 * MiB);
  const auth = await authFor({ alice: 'alice-password' });
  const start = async () => {
    const server = new FileShareServer({ root, auth, host: '127.0.0.1', port: 0, closeTimeout: 1, loginThrottle: false });
    defer(() => server.close());
    const { port } = await server.listen();
    const client = new FileShareClient({ host: '127.0.0.1', port, progressIntervalMs: 0 });
    defer(() => client.close());
    await client.connect();
    await client.login('alice', 'alice-password');
    return { server, client };
  };
  const first = await start();
  let closing: Promise<void> | undefined;
  await interruptedUpload(first.client, file, '/r.bin', 3 * MiB, () => (closing = first.server.close()));
  await within(closing!, 5000, 'the server to close');
  const [partial] = await tempFiles(root);
  assert.ok(partial, 'the shutdown discarded the resumable upload');
  const kept = await sizeOf(path.join(root, partial));
  assert.ok(kept > 0);

  const second = await start();
  let firstProgress = -1;
  const result = await second.client.upload(file, '/r.bin', {
    resume: true,
    onProgress: (p) => (firstProgress = firstProgress < 0 ? p.bytes : firstProgress),
  });
  assert.is(result.sha256, await sha256File(file));
  assert.ok(firstProgress >= kept, `restarted from zero: first progress ${firstProgress}, kept ${kept}`);
  assert.equal(await walk(root), ['r.bin']);
});

test('upload: the local file changed but kept its size and mtime → the prefix hash differs → restart from zero, right content', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'doc.bin'), 10 * MiB);
  const stamp = new Date('2024-01-02T03:04:05Z'); // whole seconds: utimes can restore it exactly
  await fsp.utimes(file, stamp, stamp);
  const first = await t.connect();
  await interruptedUpload(first, file, '/doc.bin', 4 * MiB, () => void first.close());
  const kept = await keptPartial(t);
  assert.ok(kept.bytes > MiB);

  // change a byte inside the kept prefix, then put the size and mtime back
  const handle = await fsp.open(file, 'r+');
  await handle.write(Buffer.from('changed!'), 0, 8, 1000);
  await handle.close();
  await fsp.utimes(file, stamp, stamp);

  const second = await t.connect();
  let firstProgress = -1;
  const result = await within(
    second.upload(file, '/doc.bin', { resume: true, onProgress: (p) => (firstProgress = firstProgress < 0 ? p.bytes : firstProgress) }),
    20_000,
    'the upload after the change',
  );
  const sha = await sha256File(file);
  assert.is(result.sha256, sha);
  assert.is(await sha256File(path.join(t.root, 'doc.bin')), sha, 'the server appended to a stale prefix');
  assert.ok(firstProgress < kept.bytes, `it did not restart: first progress ${firstProgress}, kept ${kept.bytes}`);
  assert.equal(await tempFiles(t.root), []);
});

test('upload: a resumed upload with overwrite replaces the old file only at the end', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'v2.bin'), 8 * MiB);
  const old = await makeFile(path.join(t.root, 'doc.bin'), MiB);
  const oldSha = await sha256File(old);
  const first = await t.connect();
  await interruptedUpload(first, file, '/doc.bin', 2 * MiB, () => void first.close(), { overwrite: true });
  await keptPartial(t);
  assert.is(await sha256File(old), oldSha, 'the old file changed before the upload finished');
  const second = await t.connect();
  await rejects(second.upload(file, '/doc.bin', { resume: true }), 'EEXIST'); // overwrite is still required
  const result = await second.upload(file, '/doc.bin', { resume: true, overwrite: true });
  assert.is(await sha256File(old), result.sha256);
  assert.equal(await tempFiles(t.root), []);
});

test('download: an aborted download keeps .<name>.fileshare-partial; resume completes from it and removes it', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const remoteFile = await makeFile(path.join(t.root, 'movie.bin'), 12 * MiB + 3);
  const sha = await sha256File(remoteFile);
  const client = await t.connect();
  const target = path.join(local, 'movie.bin');
  const partial = path.join(local, '.movie.bin.fileshare-partial');
  const controller = new AbortController();
  await rejects(
    within(
      client.download('/movie.bin', target, {
        resume: true,
        signal: controller.signal,
        onProgress: (p) => (p.bytes >= 4 * MiB ? controller.abort() : undefined),
      }),
      20_000,
      'the aborted download',
    ),
    'EABORTED',
  );
  assert.not.ok(await fsp.stat(target).catch(() => null), 'the target appeared');
  const keptBytes = await sizeOf(partial);
  assert.ok(keptBytes >= 4 * MiB && keptBytes < 12 * MiB, `kept ${keptBytes} bytes`);

  let firstProgress = -1;
  const result = await within(
    client.download('/movie.bin', target, {
      resume: true,
      onProgress: (p) => (firstProgress = firstProgress < 0 ? p.bytes : firstProgress),
    }),
    20_000,
    'the resumed download',
  );
  assert.is(result.sha256, sha);
  assert.is(await sha256File(target), sha);
  assert.ok(firstProgress >= keptBytes, `restarted from zero: first progress ${firstProgress}, kept ${keptBytes}`);
  assert.not.ok(await fsp.stat(partial).catch(() => null), 'the partial file remains');
  assert.equal(await fsp.readdir(local), ['movie.bin']);
});

test('download: a corrupted local partial file → the server answers offset 0 → the right file', async () => {
  const t = await testServer({ client: eachChunk });
  const local = await tempDir();
  const remoteFile = await makeFile(path.join(t.root, 'report.bin'), 6 * MiB);
  const sha = await sha256File(remoteFile);
  const client = await t.connect();
  const target = path.join(local, 'report.bin');
  const partial = path.join(local, '.report.bin.fileshare-partial');
  // the right length of the wrong bytes
  await fsp.copyFile(remoteFile, partial);
  await fsp.truncate(partial, 2 * MiB);
  const handle = await fsp.open(partial, 'r+');
  await handle.write(Buffer.from([0xff ^ (await fsp.readFile(remoteFile)).readUInt8(MiB)]), 0, 1, MiB);
  await handle.close();

  let firstProgress = -1;
  const result = await client.download('/report.bin', target, {
    resume: true,
    onProgress: (p) => (firstProgress = firstProgress < 0 ? p.bytes : firstProgress),
  });
  assert.is(result.sha256, sha);
  assert.is(await sha256File(target), sha);
  assert.ok(firstProgress < 2 * MiB, `it appended to a corrupt prefix: first progress ${firstProgress}`);
  assert.equal(await fsp.readdir(local), ['report.bin']);

  // a partial that already holds the whole file: nothing left to send, still verified
  await fsp.rm(target);
  await fsp.copyFile(remoteFile, partial);
  const whole = await client.download('/report.bin', target, { resume: true });
  assert.is(whole.sha256, sha);
  assert.is(await sha256File(target), sha);
  assert.equal(await fsp.readdir(local), ['report.bin']);

  // a partial longer than the remote file is no prefix either
  await fsp.rm(target);
  await makeFile(partial, 7 * MiB);
  const again = await client.download('/report.bin', target, { resume: true });
  assert.is(again.sha256, sha);
  assert.is(await sha256File(target), sha);
  assert.equal(await fsp.readdir(local), ['report.bin']);
});

test('download: a file replaced between the prefix check and the read is never spliced (old prefix + new rest)', async () => {
  const root = await tempDir('fileshare-splice-');
  const local = await tempDir();
  const oldFile = await makeFile(path.join(local, 'old.bin'), 4 * MiB);
  const newFile = await makeFile(path.join(local, 'new.bin'), 4 * MiB);
  await fsp.copyFile(oldFile, path.join(root, 'doc.bin'));
  // a storage that replaces the file (as an overwriting upload would, by rename) right before the
  // read of a resumed download, i.e. after the server checked the client's prefix
  const inner = new LocalStorage(root);
  let replaced = false;
  const storage: Storage = {
    scope: (p) => inner.scope(p),
    stat: (p) => inner.stat(p),
    list: (p) => inner.list(p),
    mkdir: (p, o) => inner.mkdir(p, o),
    rmdir: (p, o) => inner.rmdir(p, o),
    delete: (p) => inner.delete(p),
    rename: (a, b) => inner.rename(a, b),
    openUpload: (p, o) => inner.openUpload(p, o),
    async openRead(p, o) {
      if (!replaced && (o?.offset ?? 0) > 0) {
        replaced = true;
        await fsp.copyFile(newFile, path.join(root, 'doc.tmp'));
        await fsp.rename(path.join(root, 'doc.tmp'), path.join(root, 'doc.bin'));
      }
      return inner.openRead(p, o);
    },
  };
  const t = await testServer({ server: { root: storage } });
  const client = await t.connect();
  const target = path.join(local, 'doc.bin');
  await fsp.copyFile(oldFile, path.join(local, '.doc.bin.fileshare-partial'));
  await fsp.truncate(path.join(local, '.doc.bin.fileshare-partial'), MiB);
  const result = await client.download('/doc.bin', target, { resume: true }).catch((e: Error) => e);
  assert.ok(replaced, 'the storage hook did not run');
  if (!(result instanceof Error)) {
    const got = await sha256File(target);
    assert.ok(got === (await sha256File(oldFile)) || got === (await sha256File(newFile)), 'the download is a splice of two versions');
    assert.is(result.sha256, got);
  }
});

test('wire: all bytes kept → the next attempt resumes at offset = size and sends only END; a key never continues another path', async () => {
  const t = await testServer();
  const data = randomBytes(300_000);
  const key = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const first = await RawClient.connect(t.port);
  await first.login('alice', 'alice-password');
  first.request(2, { op: 'upload', path: '/r.bin', size: data.length, resume: { key } });
  assert.equal(json(await first.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL)), { offset: 0 });
  first.write([encodeHeader(FrameType.DATA, 2, data.length), data]); // every byte, but no END
  await waitFor(
    async () => (await tempFiles(t.root)).length === 1 && (await sizeOf(path.join(t.root, (await tempFiles(t.root))[0]!))) === data.length,
    5000,
    'the data to reach the disk',
  );
  first.socket.destroy();
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the server to drop the connection');

  const second = await RawClient.connect(t.port);
  await second.login('alice', 'alice-password');
  // the same key for another target starts from zero
  second.request(2, { op: 'upload', path: '/other.bin', size: data.length, resume: { key } });
  assert.equal(json(await second.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL)), { offset: 0 });
  second.write(encodeJsonFrame(FrameType.CANCEL, 2, {}));
  assert.is(json(await second.next((f) => f.stream === 2 && f.type === FrameType.ERROR)).code, 'EABORTED');
  // the right target: the server holds everything and proves it
  second.request(3, { op: 'upload', path: '/r.bin', size: data.length, resume: { key } });
  const go = json(await second.next((f) => f.stream === 3 && f.type === FrameType.PARTIAL));
  assert.equal(go, { offset: data.length, prefixSha256: sha256(data) });
  second.write(encodeJsonFrame(FrameType.END, 3, { bytes: data.length, sha256: sha256(data) }));
  const done = await second.next((f) => f.stream === 3 && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR));
  assert.is(done.type, FrameType.RESPONSE, done.body.toString('utf8'));
  assert.equal(json(done), { bytes: data.length, sha256: sha256(data) });
  assert.ok((await fsp.readFile(path.join(t.root, 'r.bin'))).equals(data));
});

test('wire: a resumed upload whose whole-file SHA-256 does not match is EINTEGRITY; its data is discarded, no target', async () => {
  const t = await testServer();
  const data = randomBytes(200_000);
  const key = 'ffeeddccbbaa99887766554433221100';
  const first = await RawClient.connect(t.port);
  await first.login('alice', 'alice-password');
  first.request(2, { op: 'upload', path: '/s.bin', size: data.length, resume: { key } });
  await first.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  first.write([encodeHeader(FrameType.DATA, 2, 100_000), data.subarray(0, 100_000)]);
  await waitFor(
    async () => (await tempFiles(t.root)).length === 1 && (await sizeOf(path.join(t.root, (await tempFiles(t.root))[0]!))) === 100_000,
    5000,
    'the data to reach the disk',
  );
  first.socket.destroy();
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the server to drop the connection');

  const second = await RawClient.connect(t.port);
  await second.login('alice', 'alice-password');
  second.request(2, { op: 'upload', path: '/s.bin', size: data.length, resume: { key } });
  assert.equal(json(await second.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL)).offset, 100_000);
  const rest = data.subarray(100_000);
  second.write([encodeHeader(FrameType.DATA, 2, rest.length), rest]);
  second.write(encodeJsonFrame(FrameType.END, 2, { bytes: data.length, sha256: sha256(Buffer.from('not this file')) }));
  assert.is(json(await second.next((f) => f.stream === 2 && f.type === FrameType.ERROR)).code, 'EINTEGRITY');
  assert.equal(await walk(t.root), []);
});

test('expiry: the partial file of an unfinished upload is removed after resumableUploadTtl', async () => {
  const t = await testServer({ client: eachChunk, server: { resumableUploadTtl: 300 } });
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'gone.bin'), 8 * MiB);
  const client = await t.connect();
  await interruptedUpload(client, file, '/gone.bin', 3 * MiB, () => void client.close());
  await waitFor(() => t.server.connectionCount === 0, 5000, 'the server to drop the connection');
  const started = Date.now();
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, 'the sweeper to remove the partial file');
  assert.ok(Date.now() - started < 5000);
  // and a later attempt starts from zero and completes
  const again = await t.connect();
  const result = await again.upload(file, '/gone.bin', { resume: true });
  assert.is(result.sha256, await sha256File(file));
});

test('expiry: the sweeper never removes the temp file of an upload in progress, however slow', async () => {
  const t = await testServer({ client: eachChunk, server: { resumableUploadTtl: 200 } });
  const client = await t.connect();
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'slow-resumable.bin'), 64 * 1024);
  /** 4 chunks of 16 KiB, 450 ms apart: each pause is longer than the TTL. */
  const slowSource = () =>
    Readable.from(
      (async function* () {
        const data = await fsp.readFile(file);
        for (let i = 0; i < 4; i++) {
          if (i > 0) await sleep(450);
          yield data.subarray(i * 16 * 1024, (i + 1) * 16 * 1024);
        }
      })(),
    );
  const plain = await within(client.upload(slowSource(), '/slow-plain.bin', { size: 64 * 1024 }), 10_000, 'the slow plain upload');
  assert.is(plain.sha256, await sha256File(file));
  assert.is(await sha256File(path.join(t.root, 'slow-plain.bin')), plain.sha256);
});

test.run();
