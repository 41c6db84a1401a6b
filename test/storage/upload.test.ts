import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, type Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage, type UploadTarget } from '../../src/storage/index.ts';
import { FileWriter } from '../../src/storage/file-writer.ts';
import { cleanup, exists, rejects, tempDir, tempFiles } from './fixtures.ts';

let root = '';
let storage: LocalStorage;

test.before.each(async () => {
  root = await tempDir();
  storage = new LocalStorage(root);
  await fsp.mkdir(path.join(root, 'dir'));
  await fsp.writeFile(path.join(root, 'existing.txt'), 'original');
});
test.after.each(cleanup);

function end(stream: Writable, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => stream.end(data, () => resolve()));
}

function write(stream: Writable, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
}

async function upload(remote: string, data: string | Buffer, options = {}): Promise<UploadTarget> {
  const target = await storage.openUpload(remote, options);
  await end(target.stream, data);
  return target;
}

test('write, commit: the file has the content; no temporary file remains', async () => {
  const target = await upload('/dir/new.txt', 'hello');
  await target.commit();
  assert.is(await fsp.readFile(path.join(root, 'dir', 'new.txt'), 'utf8'), 'hello');
  assert.equal(await tempFiles(path.join(root, 'dir')), []);
  assert.is((await fsp.stat(path.join(root, 'dir', 'new.txt'))).nlink, 1);
  assert.is((await fsp.stat(path.join(root, 'dir', 'new.txt'))).mode & 0o777, 0o644 & ~process.umask());
  await target.commit(); // idempotent
  await target.abort(); // does nothing after a commit
  assert.ok(await exists(path.join(root, 'dir', 'new.txt')));
});

test('the stream is a FileWriter with a 1 MiB highWaterMark', async () => {
  const target = await storage.openUpload('/x');
  assert.is(target.stream.writableHighWaterMark, 1024 * 1024);
  assert.ok(target.stream instanceof FileWriter);
  await target.abort();
});

test('a larger upload through pipeline', async () => {
  const data = Buffer.alloc(3 * 1024 * 1024 + 7, 0x5a);
  const target = await storage.openUpload('/big.bin', { size: data.length });
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), target.stream);
  await target.commit();
  assert.ok((await fsp.readFile(path.join(root, 'big.bin'))).equals(data));
});

test('the target is invisible before commit; the temporary file sits beside it, hidden', async () => {
  const target = await storage.openUpload('/dir/pending.txt');
  await write(target.stream, 'part');
  assert.equal(await storage.list('/dir'), []);
  assert.not.ok(await exists(path.join(root, 'dir', 'pending.txt')));
  await rejects(storage.stat('/dir/pending.txt'), 'ENOENT');
  const temps = await tempFiles(path.join(root, 'dir'));
  assert.is(temps.length, 1);
  assert.match(temps[0]!, /^\.fileshare-part-[0-9a-f]{16}-pending\.txt$/);
  await rejects(storage.stat(`/dir/${temps[0]}`), 'EACCES');
  await rejects(storage.openRead(`/dir/${temps[0]}`), 'EACCES');
  await end(target.stream, '!');
  await target.commit();
  assert.equal(
    (await storage.list('/dir')).map((e) => [e.name, e.size]),
    [['pending.txt', 5]],
  );
});

test('abort: no target, no temporary file; twice is fine', async () => {
  const target = await upload('/a.txt', 'data');
  await target.abort();
  await target.abort();
  assert.not.ok(await exists(path.join(root, 'a.txt')));
  assert.equal(await tempFiles(root), []);
  await rejects(target.commit(), 'EABORTED');
  assert.not.ok(await exists(path.join(root, 'a.txt')));
});

test('abort after a partial write, stream still open', async () => {
  const target = await storage.openUpload('/partial.txt');
  await write(target.stream, Buffer.alloc(100_000, 1));
  target.stream.write(Buffer.alloc(5_000_000, 2)); // mid-write
  await target.abort();
  assert.ok(target.stream.destroyed);
  assert.not.ok(await exists(path.join(root, 'partial.txt')));
  assert.equal(await tempFiles(root), []);
});

test('abort after the stream errored', async () => {
  const target = await storage.openUpload('/err.txt');
  target.stream.destroy(new Error('boom'));
  await target.abort();
  assert.equal(await tempFiles(root), []);
  assert.not.ok(await exists(path.join(root, 'err.txt')));
});

test('commit after the stream errored fails and cleans up', async () => {
  const target = await storage.openUpload('/err.txt');
  await write(target.stream, 'x');
  target.stream.destroy(Object.assign(new Error('disk trouble'), { code: 'ENOSPC' }));
  await rejects(target.commit(), 'ENOSPC', [root]);
  assert.equal(await tempFiles(root), []);
  assert.not.ok(await exists(path.join(root, 'err.txt')));
  await target.abort();
});

test('commit before end() is EINVAL and removes the temporary file', async () => {
  const target = await storage.openUpload('/open.txt');
  await write(target.stream, 'x');
  await rejects(target.commit(), 'EINVAL', [root]);
  assert.equal(await tempFiles(root), []);
  assert.not.ok(await exists(path.join(root, 'open.txt')));
});

test('commit waits for a stream that was ended but has not finished yet', async () => {
  const target = await storage.openUpload('/later.txt');
  target.stream.end(Buffer.alloc(2 * 1024 * 1024, 3));
  await target.commit();
  assert.is((await fsp.stat(path.join(root, 'later.txt'))).size, 2 * 1024 * 1024);
});

test('overwrite false with an existing target: EEXIST up front, original intact', async () => {
  await rejects(storage.openUpload('/existing.txt'), 'EEXIST', [root]);
  await rejects(storage.openUpload('/existing.txt', { overwrite: false }), 'EEXIST', [root]);
  assert.is(await fsp.readFile(path.join(root, 'existing.txt'), 'utf8'), 'original');
  assert.equal(await tempFiles(root), []);
});

test('overwrite true replaces the file atomically: readers see old or new, never a mix', async () => {
  const oldHandle = await storage.openRead('/existing.txt');
  const target = await upload('/existing.txt', 'replacement', { overwrite: true });
  assert.is(await fsp.readFile(path.join(root, 'existing.txt'), 'utf8'), 'original', 'untouched until commit');
  await target.commit();
  assert.is(await fsp.readFile(path.join(root, 'existing.txt'), 'utf8'), 'replacement');
  let old = '';
  for await (const chunk of oldHandle.stream) old += String(chunk);
  assert.is(old, 'original', 'an open reader keeps the old content');
  assert.equal(await tempFiles(root), []);
});

test('overwrite true to a new path creates it', async () => {
  const target = await upload('/fresh.txt', 'fresh', { overwrite: true });
  await target.commit();
  assert.is(await fsp.readFile(path.join(root, 'fresh.txt'), 'utf8'), 'fresh');
});

test('a target created concurrently without overwrite: EEXIST at commit, the other file intact', async () => {
  const target = await upload('/race.txt', 'mine');
  await fsp.writeFile(path.join(root, 'race.txt'), 'theirs');
  await rejects(target.commit(), 'EEXIST', [root]);
  assert.is(await fsp.readFile(path.join(root, 'race.txt'), 'utf8'), 'theirs');
  assert.equal(await tempFiles(root), []);
});

test('two concurrent uploads to the same new path: exactly one wins', async () => {
  const a = await upload('/both.txt', 'AAAA');
  const b = await upload('/both.txt', 'BBBB');
  const results = await Promise.allSettled([a.commit(), b.commit()]);
  assert.equal(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  assert.ok(['AAAA', 'BBBB'].includes(await fsp.readFile(path.join(root, 'both.txt'), 'utf8')));
  assert.equal(await tempFiles(root), []);
});

test('a folder created at the target meanwhile, with overwrite: EISDIR at commit', async () => {
  const target = await upload('/soon-dir', 'x', { overwrite: true });
  await fsp.mkdir(path.join(root, 'soon-dir'));
  await rejects(target.commit(), 'EISDIR', [root]);
  assert.equal(await tempFiles(root), []);
});

test('openUpload failures: EISDIR, ENOENT, ENOTDIR, EINVAL size, ENOSPC', async () => {
  await rejects(storage.openUpload('/dir'), 'EISDIR', [root]);
  await rejects(storage.openUpload('/dir', { overwrite: true }), 'EISDIR', [root]);
  await rejects(storage.openUpload('/'), 'EISDIR', [root]);
  await rejects(storage.openUpload('/missing/a.txt'), 'ENOENT', [root]);
  await rejects(storage.openUpload('/existing.txt/a.txt'), 'ENOTDIR', [root]);
  await rejects(storage.openUpload('/a.txt', { size: -1 }), 'EINVAL', [root]);
  await rejects(storage.openUpload('/a.txt', { size: Number.MAX_SAFE_INTEGER }), 'ENOSPC', [root]);
  assert.equal(await tempFiles(root), []);
  assert.not.ok(await exists(path.join(root, 'a.txt')));
});

test('the parent folder removed before commit: the commit fails, nothing is left', async () => {
  await fsp.mkdir(path.join(root, 'gone'));
  const target = await upload('/gone/a.txt', 'x');
  await fsp.rm(path.join(root, 'gone'), { recursive: true });
  await rejects(target.commit(), 'ENOENT', [root]);
  assert.not.ok(await exists(path.join(root, 'gone')));
});

test('fsync option: commit still works', async () => {
  const synced = new LocalStorage(root, { fsync: true });
  const a = await synced.openUpload('/synced.txt');
  await end(a.stream, 'durable');
  await a.commit();
  const b = await synced.openUpload('/synced.txt', { overwrite: true });
  await end(b.stream, 'durable 2');
  await b.commit();
  assert.is(await fsp.readFile(path.join(root, 'synced.txt'), 'utf8'), 'durable 2');
  assert.equal(await tempFiles(root), []);
});

test('usage counts uploads in progress (what is written: gathered bytes go within 10 ms)', async () => {
  const target = await storage.openUpload('/u.bin');
  await write(target.stream, Buffer.alloc(10));
  // the writer writes what it took within 10 ms: wait for that (bounded), not a fixed time
  const writer = target.stream as FileWriter;
  for (const deadline = Date.now() + 5000; writer.bytesWritten < 10 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.is(await storage.usage('/'), 'original'.length + 10);
  await target.abort();
  assert.is(await storage.usage('/'), 'original'.length);
});

test.run();
