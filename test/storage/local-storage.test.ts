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
  await fsp.mkdir(path.join(root, 'docs', 'sub'), { recursive: true });
  await fsp.writeFile(path.join(root, 'docs', 'a.txt'), 'alpha');
  await fsp.writeFile(path.join(root, 'docs', 'sub', 'b.txt'), 'bravo!');
  await fsp.writeFile(path.join(root, 'top.txt'), 'top');
});
test.after.each(cleanup);

test('the constructor validates its arguments', () => {
  assert.throws(() => new LocalStorage(''), TypeError);
  assert.throws(() => new LocalStorage(root, { fsync: 'yes' as unknown as boolean }), TypeError);
});

test('a missing root fails with EIO without naming it', async () => {
  const missing = path.join(root, 'nope');
  await rejects(new LocalStorage(missing).stat('/'), 'EIO', [missing]);
});

test('stat: files, folders, the root', async () => {
  const file = await storage.stat('/docs/a.txt');
  assert.equal({ ...file, mtime: 0 }, { name: 'a.txt', type: 'file', size: 5, mtime: 0 });
  const st = await fsp.stat(path.join(root, 'docs', 'a.txt'));
  assert.is(file.mtime, Math.floor(st.mtimeMs));
  const dir = await storage.stat('/docs/');
  assert.is(dir.type, 'directory');
  assert.is(dir.size, 0);
  assert.is(dir.name, 'docs');
  assert.is((await storage.stat('/')).name, '');
  assert.is((await storage.stat('docs/./sub/../a.txt')).name, 'a.txt');
});

test('stat: ENOENT, ENOTDIR, and no server path in messages', async () => {
  const err = await rejects(storage.stat('/docs/missing.txt'), 'ENOENT', [root]);
  assert.ok(err.message.includes('/docs/missing.txt'));
  await rejects(storage.stat('/top.txt/x'), 'ENOTDIR', [root]);
});

test('list: sorted by name, files and folders with sizes', async () => {
  await fsp.writeFile(path.join(root, 'docs', 'Z.txt'), '');
  await fsp.writeFile(path.join(root, 'docs', '0.txt'), '0');
  const entries = await storage.list('/docs');
  assert.equal(
    entries.map((e) => [e.name, e.type, e.size]),
    [
      ['0.txt', 'file', 1],
      ['Z.txt', 'file', 0],
      ['a.txt', 'file', 5],
      ['sub', 'directory', 0],
    ],
  );
  assert.equal(
    (await storage.list('/')).map((e) => e.name),
    ['docs', 'top.txt'],
  );
});

test('list: internal temporary files are hidden; other kinds are skipped', async () => {
  await fsp.writeFile(path.join(root, 'docs', '.fileshare-part-0123456789abcdef-a.txt'), 'partial');
  const { createServer } = await import('node:net');
  const server = createServer();
  const sock = path.join(root, 'docs', 'sock');
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  try {
    assert.equal(
      (await storage.list('/docs')).map((e) => e.name),
      ['a.txt', 'sub'],
    );
    await rejects(storage.stat('/docs/sock'), 'EACCES', [root]);
    await rejects(storage.openRead('/docs/sock'), 'EACCES', [root]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('list: ENOENT, ENOTDIR', async () => {
  await rejects(storage.list('/nope'), 'ENOENT', [root]);
  await rejects(storage.list('/top.txt'), 'ENOTDIR', [root]);
});

test('mkdir: creates; EEXIST; ENOENT without recursive; ENOTDIR', async () => {
  await storage.mkdir('/new');
  assert.ok((await fsp.stat(path.join(root, 'new'))).isDirectory());
  await rejects(storage.mkdir('/new'), 'EEXIST', [root]);
  await rejects(storage.mkdir('/top.txt'), 'EEXIST', [root]);
  await rejects(storage.mkdir('/'), 'EEXIST', [root]);
  await rejects(storage.mkdir('/x/y/z'), 'ENOENT', [root]);
  await rejects(storage.mkdir('/top.txt/x'), 'ENOTDIR', [root]);
  assert.not.ok(await exists(path.join(root, 'x')));
});

test('mkdir recursive: parents too, no error if it exists, ENOTDIR through a file', async () => {
  await storage.mkdir('/x/y/z', { recursive: true });
  assert.ok((await fsp.stat(path.join(root, 'x', 'y', 'z'))).isDirectory());
  await storage.mkdir('/x/y/z', { recursive: true });
  await storage.mkdir('/x/y', { recursive: true });
  await storage.mkdir('/', { recursive: true });
  await rejects(storage.mkdir('/top.txt/a/b', { recursive: true }), 'ENOTDIR', [root]);
  await rejects(storage.mkdir('/top.txt', { recursive: true }), 'ENOTDIR', [root]);
});

test('mkdir recursive: concurrent calls on the same path all succeed', async () => {
  await Promise.all(Array.from({ length: 8 }, () => storage.mkdir('/p/q/r/s', { recursive: true })));
  assert.ok((await fsp.stat(path.join(root, 'p', 'q', 'r', 's'))).isDirectory());
});

test('rmdir: empty folder; ENOTEMPTY; recursive; ENOTDIR; ENOENT; EACCES for the root', async () => {
  await storage.mkdir('/empty');
  await storage.rmdir('/empty');
  assert.not.ok(await exists(path.join(root, 'empty')));
  await rejects(storage.rmdir('/docs'), 'ENOTEMPTY', [root]);
  await rejects(storage.rmdir('/docs/a.txt'), 'ENOTDIR', [root]);
  await rejects(storage.rmdir('/gone'), 'ENOENT', [root]);
  await rejects(storage.rmdir('/'), 'EACCES', [root]);
  await rejects(storage.rmdir('/', { recursive: true }), 'EACCES', [root]);
  await storage.rmdir('/docs', { recursive: true });
  assert.not.ok(await exists(path.join(root, 'docs')));
  assert.ok(await exists(path.join(root, 'top.txt')));
});

test('rmdir: internal temporary files count as content', async () => {
  await storage.mkdir('/t');
  await fsp.writeFile(path.join(root, 't', '.fileshare-part-0123456789abcdef-x'), 'x');
  assert.equal(await storage.list('/t'), []);
  await rejects(storage.rmdir('/t'), 'ENOTEMPTY');
  await storage.rmdir('/t', { recursive: true });
});

test('delete: a file; EISDIR for folders and the root; ENOENT', async () => {
  await storage.delete('/docs/a.txt');
  assert.not.ok(await exists(path.join(root, 'docs', 'a.txt')));
  await rejects(storage.delete('/docs/a.txt'), 'ENOENT', [root]);
  await rejects(storage.delete('/docs'), 'EISDIR', [root]);
  await rejects(storage.delete('/'), 'EISDIR', [root]);
  await rejects(storage.delete('/top.txt/x'), 'ENOTDIR', [root]);
});

test('rename: a file, to another folder, and a folder', async () => {
  await storage.rename('/top.txt', '/docs/sub/moved.txt');
  assert.is(await fsp.readFile(path.join(root, 'docs', 'sub', 'moved.txt'), 'utf8'), 'top');
  assert.not.ok(await exists(path.join(root, 'top.txt')));
  await storage.rename('/docs/sub', '/sub2');
  assert.equal(await snapshot(path.join(root, 'sub2')), { 'b.txt': 'bravo!', 'moved.txt': 'top' });
  assert.not.ok(await exists(path.join(root, 'docs', 'sub')));
});

test('rename never overwrites: EEXIST for files, folders, empty folders', async () => {
  await storage.mkdir('/empty');
  const before = await snapshot(root);
  await rejects(storage.rename('/top.txt', '/docs/a.txt'), 'EEXIST', [root]);
  await rejects(storage.rename('/top.txt', '/top.txt'), 'EEXIST', [root]);
  await rejects(storage.rename('/top.txt', '/empty'), 'EEXIST', [root]);
  await rejects(storage.rename('/docs/sub', '/empty'), 'EEXIST', [root]);
  await rejects(storage.rename('/docs/sub', '/top.txt'), 'EEXIST', [root]);
  await rejects(storage.rename('/docs', '/'), 'EEXIST', [root]);
  assert.equal(await snapshot(root), before);
});

test('rename: EINVAL for the root and into itself; ENOENT; ENOTDIR', async () => {
  const before = await snapshot(root);
  await rejects(storage.rename('/', '/x'), 'EINVAL', [root]);
  await rejects(storage.rename('/docs', '/docs/sub/docs'), 'EINVAL', [root]);
  await rejects(storage.rename('/docs', '/docs/inner'), 'EINVAL', [root]);
  await rejects(storage.rename('/missing', '/x'), 'ENOENT', [root]);
  await rejects(storage.rename('/top.txt', '/missing/x'), 'ENOENT', [root]);
  await rejects(storage.rename('/top.txt', '/docs/a.txt/x'), 'ENOTDIR', [root]);
  assert.equal(await snapshot(root), before);
});

test('rename: a hard link is not left behind', async () => {
  await storage.rename('/top.txt', '/t2.txt');
  assert.is((await fsp.stat(path.join(root, 't2.txt'))).nlink, 1);
});

test('usage: sum of file sizes, recursive; a file alone', async () => {
  assert.is(await storage.usage('/'), 5 + 6 + 3);
  assert.is(await storage.usage('/docs'), 5 + 6);
  assert.is(await storage.usage('/docs/a.txt'), 5);
  await rejects(storage.usage('/none'), 'ENOENT', [root]);
});

test('path escapes are EACCES / EINVAL before touching anything', async () => {
  const outer = await tempDir();
  await fsp.writeFile(path.join(outer, 'secret.txt'), 'secret');
  root = path.join(outer, 'root');
  await fsp.mkdir(path.join(root, 'docs'), { recursive: true });
  await fsp.writeFile(path.join(root, 'top.txt'), 'top');
  storage = new LocalStorage(root);
  const before = await snapshot(outer);
  await rejects(storage.stat('../../etc/passwd'), 'EACCES', [root]);
  await rejects(storage.list('/..'), 'EACCES', [root]);
  await rejects(storage.mkdir('/a/../../x'), 'EACCES', [root]);
  await rejects(storage.openRead('/../etc/passwd'), 'EACCES', [root]);
  await rejects(storage.openUpload('/../escaped.txt'), 'EACCES', [root]);
  await rejects(storage.rename('/top.txt', '../escaped.txt'), 'EACCES', [root]);
  await rejects(storage.delete('/docs/../../x'), 'EACCES', [root]);
  await rejects(storage.stat('/top.txt\0.png'), 'EINVAL', [root]);
  await rejects(storage.mkdir(''), 'EINVAL', [root]);
  await rejects(storage.stat('/.fileshare-part-0123456789abcdef-x'), 'EACCES', [root]);
  // "absolute-looking" inputs stay inside the root
  await rejects(storage.stat(path.join(root, 'top.txt')), 'ENOENT');
  await rejects(storage.stat('/etc/passwd'), 'ENOENT', [root]);
  await rejects(storage.stat('../secret.txt'), 'EACCES', [root]);
  assert.equal(await snapshot(outer), before);
});

test.run();
