/**
 * What a local process racing the server could do to the folder between a check and its use:
 * swap a folder for a link, replace a temporary file under its name. Each race is played out by
 * doing the swap at the worst moment, with real links on a real folder.
 */
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage } from '../../src/storage/index.ts';
import { createInside, openInside } from '../../src/storage/safe-open.ts';
import { cleanup, exists, rejects, snapshot, tempDir, tempFiles } from './fixtures.ts';

let root = '';
let outside = '';
let storage: LocalStorage;

test.before.each(async () => {
  root = await tempDir('fs-race-root-');
  outside = await tempDir('fs-race-outside-');
  await fsp.writeFile(path.join(outside, 'secret.txt'), 'secret');
  await fsp.symlink(outside, path.join(root, 'swapped'));
  storage = new LocalStorage(root);
});
test.after.each(cleanup);

function end(stream: Writable, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(data, () => resolve());
  });
}

test('a descriptor that lands outside the root (a folder swapped for a link after the check) is refused before any byte moves', async () => {
  if (process.platform !== 'linux') return console.log('  (skipped: /proc/self/fd is Linux only)');
  const before = await snapshot(outside);
  // what the open would see once a checked folder had been swapped for `swapped`
  await rejects(openInside(root, path.join(root, 'swapped', 'secret.txt'), constants.O_RDWR, '/x/secret.txt'), 'EACCES', [root, outside]);
  await rejects(createInside(root, path.join(root, 'swapped', 'new.txt'), '/x/new.txt'), 'EACCES', [root, outside]);
  assert.equal(await snapshot(outside), before, 'a file was created or changed outside the root');
  // and a link in the last component is never followed
  await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, 'leaf'));
  await rejects(openInside(root, path.join(root, 'leaf'), constants.O_RDONLY, '/leaf'), 'EACCES', [root, outside]);
  const planted = await createInside(root, path.join(root, 'leaf'), '/leaf').then(
    () => 'created',
    (err: NodeJS.ErrnoException) => err.code,
  );
  assert.is(planted, 'EEXIST', 'an internal file was opened through a planted link');
  assert.equal(await snapshot(outside), before);
});

test('a temporary file replaced by a link before the commit: EIO, nothing under the target name, the outside file untouched', async () => {
  for (const overwrite of [false, true]) {
    const upload = await storage.openUpload('/t.txt', { overwrite });
    await end(upload.stream, 'data');
    const [temp] = await tempFiles(root);
    await fsp.rm(path.join(root, temp!));
    await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, temp!));
    await rejects(upload.commit(), 'EIO', [root, outside]);
    assert.not.ok(await exists(path.join(root, 't.txt')), 'the planted link was moved into place');
    assert.is(await fsp.readFile(path.join(outside, 'secret.txt'), 'utf8'), 'secret');
    assert.equal(await tempFiles(root), []);
  }
});

test('fsync: a temporary file replaced by another file before the commit is never flushed or moved into place', async () => {
  const synced = new LocalStorage(root, { fsync: true });
  const upload = await synced.openUpload('/t.txt');
  await end(upload.stream, 'data');
  const [temp] = await tempFiles(root);
  await fsp.rm(path.join(root, temp!));
  await fsp.writeFile(path.join(root, temp!), 'planted');
  await rejects(upload.commit(), 'EIO', [root, outside]);
  assert.not.ok(await exists(path.join(root, 't.txt')));
});

test('the existence of files outside the root cannot be probed: an outside link answers EACCES whether or not its target exists', async () => {
  await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, 'to-existing'));
  await fsp.symlink(path.join(outside, 'missing.txt'), path.join(root, 'to-missing'));
  await fsp.symlink('/nonexistent-fileshare-dir/deeper/file', path.join(root, 'to-missing-dir'));
  const secrets = [root, outside];
  for (const p of [
    '/to-existing',
    '/to-missing',
    '/to-missing-dir',
    '/swapped/secret.txt',
    '/swapped/missing.txt',
    '/swapped/no/such/deep.txt',
  ]) {
    await rejects(storage.stat(p), 'EACCES', secrets);
    await rejects(storage.openRead(p), 'EACCES', secrets);
    await rejects(storage.list(p), 'EACCES', secrets);
    await rejects(storage.delete(p), 'EACCES', secrets);
    await rejects(storage.openUpload(p, { overwrite: true }), 'EACCES', secrets);
    await rejects(storage.openUpload(`${p}/below.txt`), 'EACCES', secrets);
    await rejects(storage.rename(p, '/moved'), 'EACCES', secrets);
  }
  // inside the root, a missing file is still plainly missing
  await fsp.symlink(path.join(root, 'nothing-here'), path.join(root, 'inside-dangling'));
  await rejects(storage.stat('/nothing-here'), 'ENOENT', secrets);
  await rejects(storage.stat('/inside-dangling'), 'ENOENT', secrets);
  await rejects(storage.stat('/no/such/deep.txt'), 'ENOENT', secrets);
  assert.is(await fsp.readFile(path.join(outside, 'secret.txt'), 'utf8'), 'secret');
});

test.run();
