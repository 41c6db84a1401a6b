import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage } from '../../src/storage/index.ts';
import { cleanup, exists, readAll, rejects, snapshot, tempDir, tempFiles } from './fixtures.ts';

let outer = ''; // holds the root and a sibling file, to catch `..` escapes
let root = '';
let outside = ''; // an unrelated folder the links point to
let storage: LocalStorage;
let secrets: string[] = [];

test.before.each(async () => {
  outer = await tempDir('fs-outer-');
  outside = await tempDir('fs-outside-');
  root = path.join(outer, 'root');
  secrets = [outer, outside];
  await fsp.mkdir(path.join(root, 'docs'), { recursive: true });
  await fsp.writeFile(path.join(root, 'docs', 'a.txt'), 'inside');
  await fsp.writeFile(path.join(outer, 'sibling.txt'), 'sibling');
  await fsp.mkdir(path.join(outside, 'sub'));
  await fsp.writeFile(path.join(outside, 'secret.txt'), 'secret');
  await fsp.writeFile(path.join(outside, 'sub', 'deep.txt'), 'deep');
  await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, 'out-file'));
  await fsp.symlink(outside, path.join(root, 'out-dir'));
  await fsp.symlink(path.join(outside, 'new.txt'), path.join(root, 'out-missing'));
  await fsp.symlink('../..', path.join(root, 'docs', 'up')); // relative, climbs to `outer`
  await fsp.symlink('loop', path.join(root, 'loop'));
  await fsp.symlink(path.join(root, 'docs', 'a.txt'), path.join(root, 'in-file'));
  await fsp.symlink('docs/a.txt', path.join(root, 'in-rel'));
  await fsp.symlink('docs', path.join(root, 'in-dir'));
  storage = new LocalStorage(root);
});
test.after.each(cleanup);

async function unchangedOutside(fn: () => Promise<void>): Promise<void> {
  const before = [await snapshot(outside), await snapshot(outer)];
  await fn();
  assert.equal([await snapshot(outside), await snapshot(outer)], before);
  assert.equal(await tempFiles(outside), []);
}

test('stat, read, list, usage through links leading outside: EACCES', async () => {
  await unchangedOutside(async () => {
    for (const p of ['/out-file', '/out-dir', '/out-dir/secret.txt', '/out-dir/sub/deep.txt', '/docs/up', '/docs/up/sibling.txt']) {
      await rejects(storage.stat(p), 'EACCES', secrets);
    }
    await rejects(storage.openRead('/out-file'), 'EACCES', secrets);
    await rejects(storage.openRead('/out-dir/secret.txt'), 'EACCES', secrets);
    await rejects(storage.openRead('/docs/up/sibling.txt'), 'EACCES', secrets);
    await rejects(storage.list('/out-dir'), 'EACCES', secrets);
    await rejects(storage.list('/out-dir/sub'), 'EACCES', secrets);
    await rejects(storage.list('/docs/up'), 'EACCES', secrets);
    await rejects(storage.usage('/out-dir'), 'EACCES', secrets);
    await rejects(storage.stat('/loop'), 'EACCES', secrets);
  });
});

test('list skips links leading outside, dangling and looping; lists inside links by their target type', async () => {
  const entries = await storage.list('/');
  assert.equal(
    entries.map((e) => [e.name, e.type, e.size]),
    [
      ['docs', 'directory', 0],
      ['in-dir', 'directory', 0],
      ['in-file', 'file', 6],
      ['in-rel', 'file', 6],
    ],
  );
  assert.equal(
    (await storage.list('/docs')).map((e) => e.name),
    ['a.txt'],
  );
});

test('uploads into, onto or through links leading outside: EACCES, nothing created outside', async () => {
  await unchangedOutside(async () => {
    await rejects(storage.openUpload('/out-dir/new.txt'), 'EACCES', secrets);
    await rejects(storage.openUpload('/out-dir/new.txt', { overwrite: true }), 'EACCES', secrets);
    await rejects(storage.openUpload('/out-dir/secret.txt', { overwrite: true }), 'EACCES', secrets);
    await rejects(storage.openUpload('/out-dir/sub/new.txt'), 'EACCES', secrets);
    await rejects(storage.openUpload('/out-file', { overwrite: true }), 'EACCES', secrets);
    await rejects(storage.openUpload('/out-file'), 'EACCES', secrets);
    await rejects(storage.openUpload('/out-missing', { overwrite: true }), 'EACCES', secrets);
    await rejects(storage.openUpload('/docs/up/sibling.txt', { overwrite: true }), 'EACCES', secrets);
    await rejects(storage.openUpload('/docs/up/new.txt'), 'EACCES', secrets);
  });
  assert.equal(await tempFiles(root), []);
});

test('mkdir, rmdir, delete, rename through links leading outside: EACCES, nothing changed outside', async () => {
  await unchangedOutside(async () => {
    await rejects(storage.mkdir('/out-dir/x'), 'EACCES', secrets);
    await rejects(storage.mkdir('/out-dir/x/y', { recursive: true }), 'EACCES', secrets);
    await rejects(storage.mkdir('/docs/up/x', { recursive: true }), 'EACCES', secrets);
    await rejects(storage.mkdir('/out-missing'), 'EACCES', secrets);
    await rejects(storage.rmdir('/out-dir', { recursive: true }), 'EACCES', secrets);
    await rejects(storage.rmdir('/out-dir/sub', { recursive: true }), 'EACCES', secrets);
    await rejects(storage.delete('/out-file'), 'EACCES', secrets);
    await rejects(storage.delete('/out-dir/secret.txt'), 'EACCES', secrets);
    await rejects(storage.delete('/docs/up/sibling.txt'), 'EACCES', secrets);
    await rejects(storage.rename('/docs/a.txt', '/out-dir/a.txt'), 'EACCES', secrets); // into
    await rejects(storage.rename('/docs/a.txt', '/out-file'), 'EACCES', secrets); // onto
    await rejects(storage.rename('/docs/a.txt', '/out-missing'), 'EACCES', secrets); // onto a dangling link
    await rejects(storage.rename('/docs/a.txt', '/docs/up/stolen.txt'), 'EACCES', secrets);
    await rejects(storage.rename('/out-dir/secret.txt', '/stolen.txt'), 'EACCES', secrets); // out of
    await rejects(storage.rename('/out-dir/sub', '/stolen'), 'EACCES', secrets);
  });
  assert.is(await fsp.readFile(path.join(root, 'docs', 'a.txt'), 'utf8'), 'inside');
  assert.not.ok(await exists(path.join(root, 'stolen.txt')));
});

test('links that stay inside the root are followed', async () => {
  assert.equal({ ...(await storage.stat('/in-file')), mtime: 0 }, { name: 'in-file', type: 'file', size: 6, mtime: 0 });
  assert.is((await storage.stat('/in-dir')).type, 'directory');
  assert.is((await readAll((await storage.openRead('/in-rel')).stream)).toString(), 'inside');
  assert.is((await readAll((await storage.openRead('/in-dir/a.txt')).stream)).toString(), 'inside');
  assert.equal(
    (await storage.list('/in-dir')).map((e) => e.name),
    ['a.txt'],
  );
  await storage.mkdir('/in-dir/made');
  assert.ok(await exists(path.join(root, 'docs', 'made')));
  const up = await storage.openUpload('/in-dir/new.txt');
  up.stream.end('new');
  await up.commit();
  assert.is(await fsp.readFile(path.join(root, 'docs', 'new.txt'), 'utf8'), 'new');
  assert.is(await storage.usage('/'), 6 + 3, 'usage does not follow links');
});

test('overwriting through an inside link writes the target file and keeps the link', async () => {
  await rejects(storage.openUpload('/in-rel'), 'EEXIST', secrets);
  const up = await storage.openUpload('/in-rel', { overwrite: true });
  up.stream.end('rewritten');
  await up.commit();
  assert.is(await fsp.readFile(path.join(root, 'docs', 'a.txt'), 'utf8'), 'rewritten');
  assert.ok((await fsp.lstat(path.join(root, 'in-rel'))).isSymbolicLink());
  assert.equal(await tempFiles(root), []);
  assert.equal(await tempFiles(path.join(root, 'docs')), []);
});

test('delete and rmdir of an inside link remove the link, not its target', async () => {
  await storage.delete('/in-file');
  assert.not.ok(await exists(path.join(root, 'in-file')));
  assert.ok(await exists(path.join(root, 'docs', 'a.txt')));
  await rejects(storage.delete('/in-dir'), 'EISDIR', secrets);
  await storage.rmdir('/in-dir');
  assert.not.ok(await exists(path.join(root, 'in-dir')));
  assert.ok(await exists(path.join(root, 'docs', 'a.txt')));
});

test('rename moves a link itself; a relative link that would lead elsewhere once moved is refused', async () => {
  await storage.rename('/in-file', '/docs/abs-link'); // absolute target: same meaning anywhere
  assert.ok((await fsp.lstat(path.join(root, 'docs', 'abs-link'))).isSymbolicLink());
  assert.is((await readAll((await storage.openRead('/docs/abs-link')).stream)).toString(), 'inside');
  await storage.rename('/in-rel', '/in-rel-2'); // same folder: same meaning
  assert.is((await readAll((await storage.openRead('/in-rel-2')).stream)).toString(), 'inside');
  await rejects(storage.rename('/in-rel-2', '/docs/rel'), 'EACCES', secrets); // would lead to /docs/docs/a.txt
  await rejects(storage.rename('/in-dir', '/docs/d'), 'EACCES', secrets);
  await fsp.mkdir(path.join(root, 'x', 'y'), { recursive: true });
  await fsp.symlink('../docs', path.join(root, 'x', 'l')); // /x/l -> /docs: inside
  await unchangedOutside(async () => {
    await rejects(storage.rename('/x/l', '/l'), 'EACCES', secrets); // at the top it would climb out
  });
});

test('a root given through a symbolic link works', async () => {
  const alias = path.join(outer, 'alias');
  await fsp.symlink(root, alias);
  const viaAlias = new LocalStorage(alias);
  assert.is((await viaAlias.stat('/docs/a.txt')).size, 6);
  await rejects(viaAlias.stat('/out-file'), 'EACCES', secrets);
  await rejects(viaAlias.stat('/docs/a.txt/..//../..'), 'EACCES', secrets);
});

test.run();
