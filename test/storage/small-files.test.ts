/**
 * LocalStorage's synchronous path for small files (`smallFileBytes`): the same guarantees as the
 * pooled path (atomic commit, containment, error codes, nothing left behind), and 0 turning it off.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage } from '../../src/storage/index.ts';
import { FileWriter } from '../../src/storage/file-writer.ts';
import { isTempName } from '../../src/storage/temp-names.ts';
import { cleanup, readAll, rejects, tempDir } from './fixtures.ts';

test.after.each(cleanup);

const KiB = 1024;

/** Every name in a folder tree (relative), temporary files included. */
async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fsp.readdir(dir, { recursive: true })) out.push(String(entry));
  return out.sort();
}

function end(stream: NodeJS.WritableStream, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(data, () => resolve());
  });
}

test('smallFileBytes: validated; 0 keeps the pooled upload stream, the default does not', async () => {
  const root = await tempDir();
  for (const bad of [-1, 1.5, 2 * 1024 * KiB, Number.NaN]) {
    assert.throws(() => new LocalStorage(root, { smallFileBytes: bad }), TypeError);
  }
  const pooled = await new LocalStorage(root, { smallFileBytes: 0 }).openUpload('/a.bin', { size: 4 * KiB });
  assert.ok(pooled.stream instanceof FileWriter, 'threshold 0: the pooled path');
  await pooled.abort();
  const small = await new LocalStorage(root).openUpload('/b.bin', { size: 4 * KiB });
  assert.not.ok(small.stream instanceof FileWriter, 'default: the small path');
  await small.abort();
  // over the threshold, unknown size, fsync'd: the pooled path
  const storage = new LocalStorage(root, { smallFileBytes: 8 * KiB });
  for (const [options, what] of [
    [{ size: 8 * KiB + 1 }, 'larger'],
    [{}, 'unknown size'],
  ] as const) {
    const upload = await storage.openUpload('/c.bin', options);
    assert.ok(upload.stream instanceof FileWriter, what);
    await upload.abort();
  }
  const synced = await new LocalStorage(root, { fsync: true }).openUpload('/d.bin', { size: 10 });
  assert.ok(synced.stream instanceof FileWriter, 'fsync');
  await synced.abort();
  assert.equal(await names(root), []);
});

for (const threshold of [undefined, 0]) {
  const label = threshold === 0 ? 'threshold 0' : 'default threshold';

  test(`small upload (${label}): committed whole, mtime kept, no temporary file; EEXIST for a name taken meanwhile`, async () => {
    const root = await tempDir();
    const storage = new LocalStorage(root, threshold === undefined ? {} : { smallFileBytes: threshold });
    const data = Buffer.alloc(4 * KiB, 7);
    const upload = await storage.openUpload('/f.bin', { size: data.length, mtime: 1_700_000_000_123 });
    await end(upload.stream, data);
    assert.ok(upload.offset === 0);
    await upload.commit();
    assert.ok((await fsp.readFile(path.join(root, 'f.bin'))).equals(data));
    assert.is(Math.floor((await fsp.stat(path.join(root, 'f.bin'))).mtimeMs), 1_700_000_000_123);

    const second = await storage.openUpload('/g.bin', { size: 3 });
    await fsp.writeFile(path.join(root, 'g.bin'), 'theirs');
    await end(second.stream, Buffer.from('new'));
    await rejects(second.commit(), 'EEXIST', [root]);
    assert.is(await fsp.readFile(path.join(root, 'g.bin'), 'utf8'), 'theirs');

    const replace = await storage.openUpload('/g.bin', { size: 4, overwrite: true });
    await end(replace.stream, Buffer.from('mine'));
    await replace.commit();
    assert.is(await fsp.readFile(path.join(root, 'g.bin'), 'utf8'), 'mine');
    assert.equal(await names(root), ['f.bin', 'g.bin']);
  });

  test(`small upload (${label}): aborted midway leaves nothing; abort and commit are safe to repeat`, async () => {
    const root = await tempDir();
    const storage = new LocalStorage(root, threshold === undefined ? {} : { smallFileBytes: threshold });
    const upload = await storage.openUpload('/f.bin', { size: 4 * KiB });
    await new Promise<void>((resolve, reject) => upload.stream.write(Buffer.alloc(KiB, 1), (err) => (err ? reject(err) : resolve())));
    assert.ok((await names(root)).every(isTempName), 'only a temporary file while it runs');
    await upload.abort();
    await upload.abort();
    await rejects(upload.commit(), 'EABORTED');
    assert.equal(await names(root), []);
  });

  test(`small upload (${label}): a parent that is a link out of the root is EACCES, nothing created outside`, async () => {
    const root = await tempDir();
    const outside = await tempDir('fs-outside-');
    await fsp.symlink(outside, path.join(root, 'out'));
    await fsp.mkdir(path.join(root, 'real'));
    await fsp.symlink(path.join(root, 'real'), path.join(root, 'in'));
    const storage = new LocalStorage(root, threshold === undefined ? {} : { smallFileBytes: threshold });
    await rejects(storage.openUpload('/out/f.bin', { size: 10 }), 'EACCES', [root, outside]);
    assert.equal(await names(outside), []);
    // a link that stays inside is followed
    const upload = await storage.openUpload('/in/f.bin', { size: 2 });
    await end(upload.stream, Buffer.from('ok'));
    await upload.commit();
    assert.is(await fsp.readFile(path.join(root, 'real', 'f.bin'), 'utf8'), 'ok');
    // reading through links: inside followed, outside refused
    await fsp.writeFile(path.join(outside, 'secret'), 'no');
    await fsp.symlink(path.join(outside, 'secret'), path.join(root, 'leak'));
    await rejects(storage.openRead('/leak'), 'EACCES', [root, outside]);
    await rejects(storage.openRead('/out/secret'), 'EACCES', [root, outside]);
    assert.is((await readAll((await storage.openRead('/in/f.bin')).stream)).toString(), 'ok');
  });

  test(`small upload (${label}): a temporary file replaced before the commit is refused, the target untouched`, async () => {
    const root = await tempDir();
    const storage = new LocalStorage(root, threshold === undefined ? {} : { smallFileBytes: threshold });
    const upload = await storage.openUpload('/f.bin', { size: 4 });
    const [temp] = (await names(root)).filter(isTempName);
    assert.ok(temp !== undefined);
    await end(upload.stream, Buffer.from('data'));
    // someone swaps a link to another file in under the temporary name
    await fsp.writeFile(path.join(root, 'other'), 'planted');
    await fsp.unlink(path.join(root, temp!));
    await fsp.symlink(path.join(root, 'other'), path.join(root, temp!));
    await rejects(upload.commit(), 'EIO', [root]);
    assert.equal(
      (await names(root)).filter((n) => !isTempName(n)),
      ['other'],
    );
  });
}

test('small upload: bytes beyond the announced size fail the stream with EINTEGRITY and nothing is stored', async () => {
  const root = await tempDir();
  const storage = new LocalStorage(root);
  const upload = await storage.openUpload('/f.bin', { size: 4 });
  const failed = new Promise<Error>((resolve) => upload.stream.once('error', resolve));
  upload.stream.write(Buffer.from('too many bytes'));
  const err = (await failed) as { code?: string };
  assert.is(err.code, 'EINTEGRITY');
  await rejects(upload.commit(), 'EINTEGRITY');
  assert.equal(await names(root), []);
});

test('small uploads in a burst (past the per-turn budget of synchronous work, the rest created on the pool): all committed', async () => {
  const root = await tempDir();
  const storage = new LocalStorage(root);
  const count = 200;
  const uploads = await Promise.all(Array.from({ length: count }, (_, i) => storage.openUpload(`/f${i}.bin`, { size: 6 })));
  await Promise.all(uploads.map((upload, i) => end(upload.stream, Buffer.from(`f${String(i).padStart(5, '0')}`))));
  await Promise.all(uploads.map((upload) => upload.commit()));
  const listed = await names(root);
  assert.is(listed.length, count);
  assert.ok(listed.every((n) => !isTempName(n)));
  const reads = await Promise.all(Array.from({ length: count }, (_, i) => storage.openRead(`/f${i}.bin`)));
  const contents = await Promise.all(reads.map((handle) => readAll(handle.stream)));
  assert.ok(contents.every((c, i) => c.toString() === `f${String(i).padStart(5, '0')}`));
});

test('small read: same bytes, size and version as the pooled read, from an offset, chunks within highWaterMark', async () => {
  const root = await tempDir();
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 253));
  await fsp.writeFile(path.join(root, 'f.bin'), data);
  const small = new LocalStorage(root);
  const pooled = new LocalStorage(root, { smallFileBytes: 0 });
  for (const offset of [0, 1234, 5000]) {
    const a = await small.openRead('/f.bin', { offset, highWaterMark: 1000 });
    const b = await pooled.openRead('/f.bin', { offset, highWaterMark: 1000 });
    assert.is(a.size, b.size);
    assert.is(a.mtime, b.mtime);
    assert.is(a.version, b.version);
    const chunks: Buffer[] = [];
    for await (const chunk of a.stream) chunks.push(chunk as Buffer);
    assert.ok(chunks.every((c) => c.length <= 1000));
    assert.ok(Buffer.concat(chunks).equals(data.subarray(offset)));
    assert.ok((await readAll(b.stream)).equals(data.subarray(offset)));
  }
  await rejects(small.openRead('/f.bin', { offset: 5001 }), 'EINVAL', [root]);
  assert.is(await small.sha256('/f.bin'), await pooled.sha256('/f.bin'));
});

test('small read: a FIFO or a device under a file name is refused without blocking', async () => {
  const root = await tempDir();
  await fsp.symlink('/dev/null', path.join(root, 'null'));
  const storage = new LocalStorage(root);
  await rejects(storage.openRead('/null'), 'EACCES', [root]);
});

test.run();
