import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_READ_HIGH_WATER_MARK, LocalStorage } from '../../src/storage/index.ts';
import { cleanup, readAll, rejects, tempDir } from './fixtures.ts';

let root = '';
let storage: LocalStorage;
const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

test.before.each(async () => {
  root = await tempDir();
  storage = new LocalStorage(root);
  await fsp.mkdir(path.join(root, 'dir'));
  await fsp.writeFile(path.join(root, 'data.bin'), content);
  await fsp.writeFile(path.join(root, 'empty'), '');
});
test.after.each(cleanup);

test('openRead: the whole file, with size and mtime', async () => {
  const handle = await storage.openRead('/data.bin');
  assert.is(handle.size, 1000);
  assert.is(handle.mtime, Math.floor((await fsp.stat(path.join(root, 'data.bin'))).mtimeMs));
  assert.is(handle.stream.readableHighWaterMark, DEFAULT_READ_HIGH_WATER_MARK);
  assert.ok((await readAll(handle.stream)).equals(content));
});

test('openRead: from an offset, with a small highWaterMark', async () => {
  const handle = await storage.openRead('data.bin', { offset: 990, highWaterMark: 4 });
  assert.is(handle.size, 1000);
  const chunks: Buffer[] = [];
  for await (const chunk of handle.stream) chunks.push(chunk as Buffer);
  assert.ok(chunks.every((c) => c.length <= 4));
  assert.ok(Buffer.concat(chunks).equals(content.subarray(990)));
});

test('openRead: offset at the end and empty files give an empty stream', async () => {
  assert.is((await readAll((await storage.openRead('/data.bin', { offset: 1000 })).stream)).length, 0);
  const empty = await storage.openRead('/empty');
  assert.is(empty.size, 0);
  assert.is((await readAll(empty.stream)).length, 0);
});

test('openRead: size is fixed when opened; later appends are not read', async () => {
  const handle = await storage.openRead('/data.bin');
  await fsp.appendFile(path.join(root, 'data.bin'), 'more');
  assert.is((await readAll(handle.stream)).length, 1000);
});

test('openRead: EISDIR, ENOENT, ENOTDIR, EINVAL for bad options', async () => {
  await rejects(storage.openRead('/dir'), 'EISDIR', [root]);
  await rejects(storage.openRead('/'), 'EISDIR', [root]);
  await rejects(storage.openRead('/missing'), 'ENOENT', [root]);
  await rejects(storage.openRead('/data.bin/x'), 'ENOTDIR', [root]);
  await rejects(storage.openRead('/data.bin', { offset: 1001 }), 'EINVAL', [root]);
  await rejects(storage.openRead('/data.bin', { offset: -1 }), 'EINVAL', [root]);
  await rejects(storage.openRead('/data.bin', { offset: 1.5 }), 'EINVAL', [root]);
  await rejects(storage.openRead('/data.bin', { highWaterMark: 0 }), 'EINVAL', [root]);
});

test.run();
