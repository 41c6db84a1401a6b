/** Uploads and downloads: sources and destinations, overwrite rules, aborts, drops, limits. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispose, exists, randomData, rejects, sha256, tempDir, tempFiles, testServer, waitFor, walk, within } from './helpers.ts';

test.after.each(dispose);

/** A Writable collecting what it is given. */
function collector(): Writable & { data(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return Object.assign(w, { data: () => Buffer.concat(chunks) });
}

/** An endless source of 64 KiB chunks (until destroyed); counts what was read. */
function endless(): Readable & { produced: number } {
  const block = randomData(64 * 1024);
  const r = new Readable({
    read() {
      (r as Readable & { produced: number }).produced += block.length;
      this.push(block);
    },
  }) as Readable & { produced: number };
  r.produced = 0;
  return r;
}

test('upload a local file and download it to a local path and into an existing folder', async () => {
  const t = await testServer();
  const local = await tempDir();
  const data = randomData(3 * 1024 * 1024 + 17);
  await fsp.writeFile(path.join(local, 'in.bin'), data);
  const client = await t.connect();
  const up = await client.upload(path.join(local, 'in.bin'), '/stored.bin');
  assert.is(up.bytes, data.length);
  assert.is(up.sha256, sha256(data));
  assert.ok(up.ms >= 0 && up.mbps >= 0);
  assert.ok((await fsp.readFile(path.join(t.root, 'stored.bin'))).equals(data));

  const down = await client.download('/stored.bin', path.join(local, 'out.bin'));
  assert.equal([down.bytes, down.sha256], [up.bytes, up.sha256]);
  assert.ok((await fsp.readFile(path.join(local, 'out.bin'))).equals(data));

  const folder = path.join(local, 'folder');
  await fsp.mkdir(folder);
  await client.download('/stored.bin', folder);
  assert.ok((await fsp.readFile(path.join(folder, 'stored.bin'))).equals(data));
  assert.equal(await tempFiles(local), []);
  assert.equal(await tempFiles(t.root), []);
});

test('an empty file round-trips', async () => {
  const t = await testServer();
  const client = await t.connect();
  const up = await client.upload(Readable.from([]), '/empty');
  assert.is(up.bytes, 0);
  assert.is(up.sha256, sha256(''));
  assert.is((await fsp.stat(path.join(t.root, 'empty'))).size, 0);
  const sink = collector();
  const down = await client.download('/empty', sink);
  assert.is(down.bytes, 0);
  assert.is(sink.data().length, 0);
});

test('upload from a Readable and download into a Writable', async () => {
  const t = await testServer();
  const client = await t.connect();
  const parts = [randomData(100_000), randomData(1), randomData(700_000)];
  const data = Buffer.concat(parts);
  const progress: number[] = [];
  await client.upload(Readable.from(parts), '/r.bin', { onProgress: (p) => progress.push(p.bytes) });
  assert.ok(progress.length >= 1 && progress.at(-1) === data.length, `final progress ${progress.at(-1)}`);
  const sink = collector();
  let finished = false;
  sink.on('finish', () => (finished = true));
  const result = await client.download('/r.bin', sink);
  assert.is(result.sha256, sha256(data));
  assert.ok(sink.data().equals(data));
  await waitFor(() => finished, 1000, 'the Writable to be ended');
});

test('the stream forms: createUploadStream and createDownloadStream', async () => {
  const t = await testServer();
  const client = await t.connect();
  const data = randomData(1_500_000);
  const up = client.createUploadStream('/s.bin', { size: data.length });
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), up);
  const upResult = await up.result;
  assert.is(upResult.sha256, sha256(data));

  const down = client.createDownloadStream('/s.bin');
  const chunks: Buffer[] = [];
  for await (const chunk of down) chunks.push(chunk as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data));
  assert.is((await down.result).sha256, sha256(data));

  // a failing download errors the stream with the code
  const missing = client.createDownloadStream('/missing');
  try {
    for await (const _ of missing) assert.unreachable('no data expected');
    assert.unreachable('expected the stream to error');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ENOENT');
  }
  await rejects(missing.result, 'ENOENT');

  // a failing upload errors the stream, and result rejects
  const clash = client.createUploadStream('/s.bin');
  clash.on('error', () => {});
  clash.end('x');
  await rejects(clash.result, 'EEXIST');
});

test('overwrite rules: EEXIST without overwrite (target intact), replaced with it', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'f.txt'), 'original');
  const client = await t.connect();
  await rejects(client.upload(Readable.from([Buffer.from('new')]), '/f.txt'), 'EEXIST');
  assert.is(await fsp.readFile(path.join(t.root, 'f.txt'), 'utf8'), 'original');
  await client.upload(Readable.from([Buffer.from('new')]), '/f.txt', { overwrite: true });
  assert.is(await fsp.readFile(path.join(t.root, 'f.txt'), 'utf8'), 'new');
  await fsp.mkdir(path.join(t.root, 'dir'));
  await rejects(client.upload(Readable.from([Buffer.from('x')]), '/dir', { overwrite: true }), 'EISDIR');
  await rejects(client.upload(Readable.from([Buffer.from('x')]), '/nope/f.txt'), 'ENOENT');
  assert.equal(await tempFiles(t.root), []);
});

test('download failures: ENOENT and EISDIR leave no local file', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'dir'));
  const local = await tempDir();
  const client = await t.connect();
  await rejects(client.download('/missing', path.join(local, 'x')), 'ENOENT');
  await rejects(client.download('/dir', path.join(local, 'y')), 'EISDIR');
  assert.equal(await walk(local), []);
});

test('a missing local upload source is ENOENT, a folder EISDIR; nothing is sent', async () => {
  const t = await testServer();
  const local = await tempDir();
  const client = await t.connect();
  await rejects(client.upload(path.join(local, 'nope'), '/x'), 'ENOENT');
  await rejects(client.upload(local, '/x'), 'EISDIR');
  assert.equal(await walk(t.root), []);
});

test('a declared size that does not match the bytes sent is EINTEGRITY, and nothing is stored', async () => {
  const t = await testServer();
  const client = await t.connect();
  await rejects(client.upload(Readable.from([Buffer.from('12345')]), '/short', { size: 10 }), 'EINTEGRITY');
  assert.equal(await walk(t.root), []);
  await client.list('/'); // the connection is still fine
});

test('a source stream that fails mid-upload rejects the upload and leaves nothing', async () => {
  const t = await testServer();
  const client = await t.connect();
  let sent = 0;
  const failing = new Readable({
    read() {
      if (sent >= 3) return void this.destroy(Object.assign(new Error('disk read error'), { code: 'EIO' }));
      sent++;
      this.push(randomData(64 * 1024));
    },
  });
  const err = await within(
    client.upload(failing, '/broken').catch((e: unknown) => e),
    5000,
    'the failing upload',
  );
  assert.ok((err as { code?: string }).code, 'a FileShareError code');
  await waitFor(async () => (await walk(t.root)).length === 0, 3000, 'the temp file to go');
  await client.list('/');
});

test('maxFileSize: ETOOLARGE up front when the size is announced, and while streaming when it is not', async () => {
  const t = await testServer({ server: { maxFileSize: 100_000 } });
  const client = await t.connect();
  await rejects(client.upload(Readable.from([randomData(200_000)]), '/big', { size: 200_000 }), 'ETOOLARGE');
  await rejects(client.upload(Readable.from([randomData(200_000)]), '/big2'), 'ETOOLARGE');
  await client.upload(Readable.from([randomData(100_000)]), '/ok');
  await waitFor(async () => (await walk(t.root)).join() === 'ok', 3000, 'only the accepted file');
});

test('an upload aborted by its AbortSignal rejects EABORTED; no target, no temp file', async () => {
  const t = await testServer();
  const client = await t.connect();
  const controller = new AbortController();
  const source = endless();
  const result = client.upload(source, '/aborted.bin', { signal: controller.signal }).catch((e: unknown) => e);
  await waitFor(async () => (await tempFiles(t.root)).length === 1 && source.produced > 1024 * 1024, 5000, 'the upload to be under way');
  controller.abort();
  const err = await within(result, 5000, 'the aborted upload');
  assert.is((err as { code?: string }).code, 'EABORTED');
  await waitFor(async () => (await walk(t.root)).length === 0, 3000, 'the temp file to be removed');
  assert.ok(client.connected);
  await client.list('/');
});

test('an aborted upload with overwrite: true leaves the existing target intact', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'keep.txt'), 'precious');
  const client = await t.connect();
  const controller = new AbortController();
  const source = endless();
  const result = client.upload(source, '/keep.txt', { signal: controller.signal, overwrite: true }).catch((e: unknown) => e);
  await waitFor(async () => (await tempFiles(t.root)).length === 1 && source.produced > 512 * 1024, 5000, 'the upload to be under way');
  controller.abort();
  assert.is(((await within(result, 5000, 'the aborted upload')) as { code?: string }).code, 'EABORTED');
  await waitFor(async () => (await walk(t.root)).join() === 'keep.txt', 3000, 'the temp file to be removed');
  assert.is(await fsp.readFile(path.join(t.root, 'keep.txt'), 'utf8'), 'precious');
});

test('an upload whose signal is already aborted rejects at once and sends nothing', async () => {
  const t = await testServer();
  const client = await t.connect();
  const controller = new AbortController();
  controller.abort();
  await rejects(client.upload(Readable.from([Buffer.from('x')]), '/x', { signal: controller.signal }), 'EABORTED');
  await rejects(client.download('/x', collector(), { signal: controller.signal }), 'EABORTED');
  assert.equal(await walk(t.root), []);
});

test('an upload interrupted by a dropped connection leaves no target and no temp file', async () => {
  const t = await testServer();
  const disconnected = new Promise<void>((resolve) => t.server.once('disconnect', () => resolve()));
  const client = await t.connect();
  const source = endless();
  const result = client.upload(source, '/dropped.bin').catch((e: unknown) => e);
  await waitFor(async () => (await tempFiles(t.root)).length === 1 && source.produced > 1024 * 1024, 5000, 'the upload to be under way');
  await client.close();
  assert.is(((await within(result, 5000, 'the dropped upload')) as { code?: string }).code, 'ECLOSED');
  await within(disconnected, 5000, 'the server to notice');
  await waitFor(async () => (await walk(t.root)).length === 0, 3000, 'the temp file to be removed');
});

test('a download aborted by its AbortSignal rejects EABORTED and leaves no local file', async () => {
  const t = await testServer();
  const local = await tempDir();
  await fsp.writeFile(path.join(t.root, 'big.bin'), randomData(8 * 1024 * 1024));
  const client = await t.client({ progressIntervalMs: 0 });
  await client.login('alice', 'alice-password');
  const controller = new AbortController();
  const result = client
    .download('/big.bin', path.join(local, 'big.bin'), { signal: controller.signal, onProgress: () => controller.abort() })
    .catch((e: unknown) => e);
  assert.is(((await within(result, 5000, 'the aborted download')) as { code?: string }).code, 'EABORTED');
  assert.equal(await walk(local), []);
  // the connection is still usable, and the server finished the request
  assert.is((await client.stat('/big.bin')).size, 8 * 1024 * 1024);
  await client.download('/big.bin', path.join(local, 'again.bin'));
  assert.equal(await walk(local), ['again.bin']);
});

test('a download into a Writable that fails rejects, and the connection stays usable', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'f.bin'), randomData(4 * 1024 * 1024));
  const client = await t.connect();
  let seen = 0;
  const failing = new Writable({
    write(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      cb(seen > 300_000 ? Object.assign(new Error('no space'), { code: 'ENOSPC' }) : null);
    },
  });
  failing.on('error', () => {});
  await rejects(within(client.download('/f.bin', failing), 5000, 'the failing download'), 'ENOSPC');
  await client.list('/');
  const sink = collector();
  await client.download('/f.bin', sink);
  assert.is(sink.data().length, 4 * 1024 * 1024);
});

test('two clients racing to create the same file: exactly one wins, the other gets EEXIST, no mixing', async () => {
  const t = await testServer();
  const [a, b] = await Promise.all([t.connect(), t.connect()]);
  const da = randomData(3 * 1024 * 1024);
  const db = randomData(3 * 1024 * 1024);
  const results = await Promise.allSettled([a.upload(Readable.from([da]), '/race.bin'), b.upload(Readable.from([db]), '/race.bin')]);
  const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)).sort();
  assert.equal(codes, ['EEXIST', 'ok']);
  const stored = await fsp.readFile(path.join(t.root, 'race.bin'));
  assert.ok(stored.equals(results[0]!.status === 'fulfilled' ? da : db));
  await waitFor(async () => (await walk(t.root)).join() === 'race.bin', 3000, 'no temp files');
});

test('two overwriting uploads of the same file: the result is one of them whole', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'f.bin'), 'old');
  const [a, b] = await Promise.all([t.connect(), t.connect()]);
  const da = randomData(2 * 1024 * 1024);
  const db = randomData(2 * 1024 * 1024);
  await Promise.all([
    a.upload(Readable.from([da]), '/f.bin', { overwrite: true }),
    b.upload(Readable.from([db]), '/f.bin', { overwrite: true }),
  ]);
  const stored = await fsp.readFile(path.join(t.root, 'f.bin'));
  assert.ok(stored.equals(da) || stored.equals(db));
  assert.equal(await walk(t.root), ['f.bin']);
});

test('an upload below a file is ENOTDIR', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'file'), 'x');
  const client = await t.connect();
  await rejects(client.upload(Readable.from([Buffer.from('y')]), '/file/child'), 'ENOTDIR');
});

test('concurrent uploads and downloads on one connection', async () => {
  const t = await testServer();
  const client = await t.connect();
  const files = Array.from({ length: 6 }, (_, i) => randomData(300_000 + i * 100_000));
  await Promise.all(files.map((data, i) => client.upload(Readable.from([data]), `/c${i}`)));
  const sinks = files.map(() => collector());
  await Promise.all(files.map((_, i) => client.download(`/c${i}`, sinks[i]!)));
  files.forEach((data, i) => assert.ok(sinks[i]!.data().equals(data), `file ${i}`));
  const passthrough = new PassThrough();
  passthrough.end(files[0]);
  await client.upload(passthrough, '/from-passthrough');
});

test.run();
