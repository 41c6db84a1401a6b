import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalStorage } from '../../src/storage/local-storage.ts';
import type { UploadTarget } from '../../src/storage/types.ts';

const KEY = 'a'.repeat(32);

async function withRoot(fn: (root: string, storage: LocalStorage) => Promise<void>) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'fileshare-resume-'));
  try {
    await fn(root, new LocalStorage(root));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function write(target: UploadTarget, data: string): Promise<void> {
  return new Promise((resolve, reject) => target.stream.write(data, (err) => (err ? reject(err) : resolve())));
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

test('a suspended resumable upload keeps its bytes, hidden, and continues at its offset', () =>
  withRoot(async (root, storage) => {
    const first = await storage.openUpload('/big.bin', { size: 10, resume: { key: KEY } });
    assert.is(first.offset, 0);
    await write(first, 'hello');
    await first.suspend();
    assert.equal(await storage.list('/'), [], 'the partial file is not listed');
    assert.is((await readdir(root)).length, 1, 'the partial file is kept on disk');

    const second = await storage.openUpload('/big.bin', { size: 10, resume: { key: KEY } });
    assert.is(second.offset, 5);
    assert.is(await readAll(second.readExisting()), 'hello');
    second.stream.end('world');
    await second.commit();
    assert.is(await readFile(path.join(root, 'big.bin'), 'utf8'), 'helloworld');
    assert.equal(await readdir(root), ['big.bin'], 'no temporary file remains');
  }));

test('restart discards what an earlier attempt left', () =>
  withRoot(async (_root, storage) => {
    const first = await storage.openUpload('/f', { resume: { key: KEY } });
    await write(first, 'stale');
    await first.suspend();
    const again = await storage.openUpload('/f', { resume: { key: KEY, restart: true } });
    assert.is(again.offset, 0);
    await again.abort();
  }));

test('bytes beyond the announced size are cut off', () =>
  withRoot(async (_root, storage) => {
    const first = await storage.openUpload('/f', { resume: { key: KEY } });
    await write(first, '0123456789');
    await first.suspend();
    const second = await storage.openUpload('/f', { size: 4, resume: { key: KEY } });
    assert.is(second.offset, 4);
    assert.is(await readAll(second.readExisting()), '0123');
    await second.abort();
  }));

test('one attempt per resumable upload at a time: EBUSY; invalid keys: EINVAL', () =>
  withRoot(async (_root, storage) => {
    const first = await storage.openUpload('/f', { resume: { key: KEY } });
    try {
      await storage.openUpload('/f', { resume: { key: KEY } });
      assert.unreachable('expected EBUSY');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'EBUSY');
    }
    await first.suspend();
    await (await storage.openUpload('/f', { resume: { key: KEY } })).abort();
    for (const key of ['short', 'A'.repeat(32), '../etc/passwd'.padEnd(32, 'a')]) {
      try {
        await storage.openUpload('/f', { resume: { key } });
        assert.unreachable(`expected EINVAL for ${key}`);
      } catch (err) {
        assert.is((err as { code?: string }).code, 'EINVAL');
      }
    }
  }));

test('a non-resumable upload is discarded by suspend()', () =>
  withRoot(async (root, storage) => {
    const upload = await storage.openUpload('/f');
    await write(upload, 'data');
    await upload.suspend();
    assert.equal(await readdir(root), []);
  }));

test('sweep removes expired leftovers and keeps fresh ones and uploads in progress', () =>
  withRoot(async (root, storage) => {
    await storage.mkdir('/sub');
    const old = Date.now() / 1000 - 3600;
    await writeFile(path.join(root, 'sub', '.fileshare-part-0123456789abcdef-x'), 'crash leftover');
    await utimes(path.join(root, 'sub', '.fileshare-part-0123456789abcdef-x'), old, old);
    await writeFile(path.join(root, `.fileshare-part-r-${'b'.repeat(32)}`), 'old resumable');
    await utimes(path.join(root, `.fileshare-part-r-${'b'.repeat(32)}`), old, old);
    await writeFile(path.join(root, `.fileshare-part-r-${'c'.repeat(32)}`), 'fresh resumable');
    await writeFile(path.join(root, 'keep.txt'), 'a user file');
    const active = await storage.openUpload('/active', { resume: { key: 'd'.repeat(32) } });
    await write(active, 'in progress');
    await utimes(path.join(root, `.fileshare-part-r-${'d'.repeat(32)}`), old, old);

    const removed = await storage.sweep({ resumableTtlMs: 60_000, abandonedTtlMs: 60_000 });
    assert.is(removed, 2);
    assert.equal(
      (await readdir(root)).sort(),
      [`.fileshare-part-r-${'c'.repeat(32)}`, `.fileshare-part-r-${'d'.repeat(32)}`, 'keep.txt', 'sub'].sort(),
    );
    assert.equal(await readdir(path.join(root, 'sub')), []);
    await active.abort();
  }));

test.run();
