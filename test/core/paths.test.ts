/** Containment: path escapes, symbolic links out of the root, home folders, read-only users. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispose, rejects, tempDir, testServer, walk } from './helpers.ts';

test.after.each(dispose);

const from = (text: string) => Readable.from([Buffer.from(text)]);
const sink = () => new PassThrough().resume();

test('paths that climb above the root are EACCES, a NUL byte is EINVAL, for every command', async () => {
  // the served root sits alone in a private parent folder: nothing may ever appear beside it
  const parent = await tempDir();
  const root = path.join(parent, 'root');
  await fsp.mkdir(root);
  const t = await testServer({ server: { root } });
  const before = await fsp.readdir(parent);
  const client = await t.connect();
  for (const bad of ['../x', '/a/../../x', '/../../../../etc/passwd', '..']) {
    await rejects(client.download(bad, sink()), 'EACCES');
    await rejects(client.upload(from('evil'), bad), 'EACCES');
    await rejects(client.upload(from('evil'), bad, { overwrite: true }), 'EACCES');
    await rejects(client.list(bad), 'EACCES');
    await rejects(client.stat(bad), 'EACCES');
    await rejects(client.mkdir(bad, { recursive: true }), 'EACCES');
    await rejects(client.rmdir(bad, { recursive: true }), 'EACCES');
    await rejects(client.delete(bad), 'EACCES');
    await rejects(client.rename(bad, '/y'), 'EACCES');
    await rejects(client.rename('/y', bad), 'EACCES');
  }
  for (const bad of ['a\0b', '/x\0/../y', '']) {
    await rejects(client.download(bad, sink()), 'EINVAL');
    await rejects(client.upload(from('evil'), bad), 'EINVAL');
    await rejects(client.list(bad), 'EINVAL');
    await rejects(client.mkdir(bad), 'EINVAL');
  }
  // a path that goes up and comes back down stays inside: allowed
  await client.mkdir('/a');
  await client.upload(from('ok'), '/a/../b.txt');
  assert.is(await fsp.readFile(path.join(t.root, 'b.txt'), 'utf8'), 'ok');
  assert.equal(await fsp.readdir(parent), before, 'nothing appeared beside the root');
  assert.equal(await walk(t.root), ['a', 'b.txt']);
});

test('internal temporary names cannot be named by a client', async () => {
  const t = await testServer();
  const client = await t.connect();
  await rejects(client.upload(from('x'), '/.fileshare-part-0123-x'), 'EACCES');
  await rejects(client.stat('/.fileshare-part-0123-x'), 'EACCES');
  await rejects(client.mkdir('/d/.fileshare-part-1/e', { recursive: true }), 'EACCES');
});

test('a symbolic link inside the root that leads out of it is EACCES for download, upload, list and the rest', async () => {
  const t = await testServer();
  const outside = await tempDir('fileshare-outside-');
  await fsp.writeFile(path.join(outside, 'secret.txt'), 'top secret');
  await fsp.symlink(outside, path.join(t.root, 'out'));
  await fsp.symlink(path.join(outside, 'secret.txt'), path.join(t.root, 'secret-link'));
  await fsp.writeFile(path.join(t.root, 'inside.txt'), 'inside');
  await fsp.symlink(path.join(t.root, 'inside.txt'), path.join(t.root, 'inside-link'));
  const client = await t.connect();

  await rejects(client.list('/out'), 'EACCES');
  await rejects(client.stat('/out'), 'EACCES');
  await rejects(client.download('/out/secret.txt', sink()), 'EACCES');
  await rejects(client.download('/secret-link', sink()), 'EACCES');
  await rejects(client.stat('/secret-link'), 'EACCES');
  await rejects(client.upload(from('evil'), '/out/new.txt'), 'EACCES');
  await rejects(client.upload(from('evil'), '/out/secret.txt', { overwrite: true }), 'EACCES');
  await rejects(client.upload(from('evil'), '/secret-link', { overwrite: true }), 'EACCES');
  await rejects(client.mkdir('/out/sub'), 'EACCES');
  await rejects(client.mkdir('/out/sub/deeper', { recursive: true }), 'EACCES');
  await rejects(client.delete('/out/secret.txt'), 'EACCES');
  await rejects(client.rename('/out/secret.txt', '/stolen.txt'), 'EACCES');
  await rejects(client.rename('/inside.txt', '/out/planted.txt'), 'EACCES');
  await rejects(client.rmdir('/out/anything'), 'EACCES');

  // a local destination must not be created either
  const local = await tempDir();
  await rejects(client.download('/secret-link', path.join(local, 'got.txt')), 'EACCES');
  assert.equal(await fsp.readdir(local), []);

  // the listing hides links that lead out; links that stay inside are followed
  const names = (await client.list('/')).map((e) => e.name);
  assert.equal(names, ['inside-link', 'inside.txt']);
  const got = new PassThrough();
  const chunks: Buffer[] = [];
  got.on('data', (c: Buffer) => chunks.push(c));
  await client.download('/inside-link', got);
  assert.is(Buffer.concat(chunks).toString(), 'inside');

  // nothing outside was touched
  assert.equal(await walk(outside), ['secret.txt']);
  assert.is(await fsp.readFile(path.join(outside, 'secret.txt'), 'utf8'), 'top secret');
  assert.ok(await fsp.stat(path.join(t.root, 'inside.txt')));
});

test('a user with a home cannot see or reach outside it', async () => {
  const t = await testServer({ users: { alice: 'alice-password', bob: { password: 'bob-password', home: 'homes/bob' } } });
  await fsp.writeFile(path.join(t.root, 'top.txt'), 'root file');
  const alice = await t.connect('alice');
  await alice.mkdir('/homes/carol', { recursive: true });
  const bob = await t.connect('bob');
  assert.equal(await bob.list('/'), []);
  await rejects(bob.stat('/top.txt'), 'ENOENT');
  await rejects(bob.stat('/../top.txt'), 'EACCES');
  await rejects(bob.list('/../carol'), 'EACCES');
  await rejects(bob.download('/../../top.txt', sink()), 'EACCES');
  await bob.upload(from('mine'), '/mine.txt');
  assert.is(await fsp.readFile(path.join(t.root, 'homes', 'bob', 'mine.txt'), 'utf8'), 'mine');
  assert.equal(
    (await bob.list('/')).map((e) => e.name),
    ['mine.txt'],
  );
  await rejects(bob.rmdir('/'), 'EACCES');
  await rejects(bob.rename('/mine.txt', '/../carol/mine.txt'), 'EACCES');
  // the admin-less alice (whole root) sees bob's file under his home
  assert.equal(
    (await alice.list('/homes/bob')).map((e) => e.name),
    ['mine.txt'],
  );
});

test('a read-only user may list, stat and download, and gets EACCES for every change', async () => {
  const t = await testServer({ users: { alice: 'alice-password', reader: { password: 'reader-password', permissions: ['read'] } } });
  await fsp.mkdir(path.join(t.root, 'd'));
  await fsp.writeFile(path.join(t.root, 'f.txt'), 'data');
  const reader = await t.connect('reader');
  assert.equal(reader.loggedInAs?.permissions, ['read']);
  assert.is((await reader.list('/')).length, 2);
  assert.is((await reader.stat('/f.txt')).size, 4);
  await reader.download('/f.txt', sink());
  await rejects(reader.upload(from('x'), '/new.txt'), 'EACCES');
  await rejects(reader.upload(from('x'), '/f.txt', { overwrite: true }), 'EACCES');
  await rejects(reader.mkdir('/e'), 'EACCES');
  await rejects(reader.delete('/f.txt'), 'EACCES');
  await rejects(reader.rename('/f.txt', '/g.txt'), 'EACCES');
  await rejects(reader.rmdir('/d'), 'EACCES');
  assert.equal(await walk(t.root), ['d', 'f.txt']);
  assert.is(await fsp.readFile(path.join(t.root, 'f.txt'), 'utf8'), 'data');
});

test('a write-only user cannot read', async () => {
  const t = await testServer({ users: { writer: { password: 'writer-password', permissions: ['write'] } } });
  await fsp.writeFile(path.join(t.root, 'f.txt'), 'data');
  const writer = await t.connect('writer');
  await rejects(writer.list('/'), 'EACCES');
  await rejects(writer.download('/f.txt', sink()), 'EACCES');
  await rejects(writer.delete('/f.txt'), 'EACCES');
  await writer.upload(from('x'), '/new.txt');
});

test.run();
