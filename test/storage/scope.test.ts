import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage } from '../../src/storage/index.ts';
import { cleanup, exists, rejects, snapshot, tempDir } from './fixtures.ts';

let root = '';
let storage: LocalStorage;

test.before.each(async () => {
  root = await tempDir();
  storage = new LocalStorage(root);
  await fsp.mkdir(path.join(root, 'homes', 'bob'), { recursive: true });
  await fsp.writeFile(path.join(root, 'homes', 'bob', 'private.txt'), 'bob only');
  await fsp.writeFile(path.join(root, 'shared.txt'), 'top level');
});
test.after.each(cleanup);

test('scope creates the home if missing and roots a storage there', async () => {
  const alice = await storage.scope('/homes/alice');
  assert.ok((await fsp.stat(path.join(root, 'homes', 'alice'))).isDirectory());
  assert.equal(await alice.list('/'), []);
  await alice.mkdir('/music');
  const up = await alice.openUpload('/music/song.txt');
  up.stream.end('la la');
  await up.commit();
  assert.is(await fsp.readFile(path.join(root, 'homes', 'alice', 'music', 'song.txt'), 'utf8'), 'la la');
  assert.is((await storage.stat('/homes/alice/music/song.txt')).size, 5);
  assert.is(await alice.usage('/'), 5);
  const again = await storage.scope('homes/alice/');
  assert.equal(
    (await again.list('/')).map((e) => e.name),
    ['music'],
  );
});

test('scope: ENOTDIR through a file; EACCES outside; scope of a scope', async () => {
  await rejects(storage.scope('/shared.txt'), 'ENOTDIR', [root]);
  await rejects(storage.scope('/shared.txt/x'), 'ENOTDIR', [root]);
  await rejects(storage.scope('/..'), 'EACCES', [root]);
  const homes = await storage.scope('/homes');
  const bob = await homes.scope('/bob');
  assert.is((await bob.stat('/private.txt')).size, 8);
});

test('a path climbing out of the home is EACCES', async () => {
  const alice = await storage.scope('/homes/alice');
  const before = await snapshot(root);
  await rejects(alice.stat('../bob/private.txt'), 'EACCES', [root]);
  await rejects(alice.openRead('/../bob/private.txt'), 'EACCES', [root]);
  await rejects(alice.list('/..'), 'EACCES', [root]);
  await rejects(alice.list('/../..'), 'EACCES', [root]);
  await rejects(alice.openUpload('/../bob/injected.txt'), 'EACCES', [root]);
  await rejects(alice.rename('/../bob/private.txt', '/mine.txt'), 'EACCES', [root]);
  await rejects(alice.delete('/../../shared.txt'), 'EACCES', [root]);
  await rejects(alice.scope('/..'), 'EACCES', [root]);
  assert.equal(await snapshot(root), before);
  // "/" of the home is the home, not the server's root
  await rejects(alice.stat('/shared.txt'), 'ENOENT', [root]);
  await rejects(alice.stat('/homes'), 'ENOENT', [root]);
  await rejects(alice.rmdir('/'), 'EACCES', [root]);
});

test('a link in the home pointing to a sibling home is EACCES, and nothing changes there', async () => {
  const alice = await storage.scope('/homes/alice');
  await fsp.symlink(path.join(root, 'homes', 'bob'), path.join(root, 'homes', 'alice', 'to-bob'));
  await fsp.symlink('../bob/private.txt', path.join(root, 'homes', 'alice', 'bob-file'));
  await fsp.symlink('../../shared.txt', path.join(root, 'homes', 'alice', 'shared'));
  const before = await snapshot(path.join(root, 'homes', 'bob'));
  assert.equal(await alice.list('/'), [], 'links leading out of the home are not listed');
  await rejects(alice.stat('/to-bob'), 'EACCES', [root]);
  await rejects(alice.list('/to-bob'), 'EACCES', [root]);
  await rejects(alice.openRead('/to-bob/private.txt'), 'EACCES', [root]);
  await rejects(alice.openRead('/bob-file'), 'EACCES', [root]);
  await rejects(alice.openRead('/shared'), 'EACCES', [root]);
  await rejects(alice.openUpload('/to-bob/injected.txt'), 'EACCES', [root]);
  await rejects(alice.openUpload('/bob-file', { overwrite: true }), 'EACCES', [root]);
  await rejects(alice.rename('/to-bob/private.txt', '/stolen.txt'), 'EACCES', [root]);
  await rejects(alice.delete('/to-bob/private.txt'), 'EACCES', [root]);
  await rejects(alice.mkdir('/to-bob/new', { recursive: true }), 'EACCES', [root]);
  await rejects(alice.rmdir('/to-bob', { recursive: true }), 'EACCES', [root]);
  assert.equal(await snapshot(path.join(root, 'homes', 'bob')), before);
  assert.not.ok(await exists(path.join(root, 'homes', 'alice', 'stolen.txt')));
  // the same links are fine from the parent storage, whose root contains both homes
  assert.is((await storage.stat('/homes/alice/bob-file')).size, 8);
});

test('a home that is itself a link is rooted at its real path', async () => {
  await fsp.mkdir(path.join(root, 'real-home'));
  await fsp.writeFile(path.join(root, 'real-home', 'x.txt'), 'x');
  await fsp.symlink('../real-home', path.join(root, 'homes', 'carol'));
  const carol = await storage.scope('/homes/carol');
  assert.equal(
    (await carol.list('/')).map((e) => e.name),
    ['x.txt'],
  );
  await rejects(carol.stat('/../../shared.txt'), 'EACCES', [root]);
});

test('scope refuses a home link that leads outside the root', async () => {
  const elsewhere = await tempDir('fs-elsewhere-');
  await fsp.symlink(elsewhere, path.join(root, 'homes', 'eve'));
  await rejects(storage.scope('/homes/eve'), 'EACCES', [root, elsewhere]);
  assert.equal(await fsp.readdir(elsewhere), []);
});

test.run();
