/** Modification times travel with the file: uploads set the remote mtime, downloads the local one. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispose, rejects, tempDir, testServer } from '../core/helpers.ts';

test.after.each(dispose);

const PAST = Date.UTC(2020, 0, 2, 3, 4, 5, 123); // a ms part that a double in seconds rounds down

test('upload with preserveMtime gives the remote file the local mtime, to the ms', async () => {
  const t = await testServer();
  const local = await tempDir();
  const file = path.join(local, 'a.txt');
  await fsp.writeFile(file, 'hello');
  await fsp.utimes(file, PAST / 1000, PAST / 1000);
  const localMtime = Math.floor((await fsp.stat(file)).mtimeMs);
  const client = await t.connect();
  await client.upload(file, '/a.txt', { preserveMtime: true });
  assert.is((await client.stat('/a.txt')).mtime, localMtime);
  assert.is(Math.floor((await fsp.stat(path.join(t.root, 'a.txt'))).mtimeMs), localMtime);

  // without it, the remote file has the time of its upload
  await client.upload(file, '/b.txt');
  assert.ok((await client.stat('/b.txt')).mtime > Date.now() - 60_000);
});

test('an explicit mtime (Date or ms) wins, also for stream sources and resumable uploads', async () => {
  const t = await testServer();
  const local = await tempDir();
  const file = path.join(local, 'r.bin');
  await fsp.writeFile(file, Buffer.alloc(100_000, 7));
  const client = await t.connect();
  const { Readable } = await import('node:stream');
  await client.upload(Readable.from([Buffer.from('xyz')]), '/s.txt', { mtime: new Date(PAST) });
  assert.is((await client.stat('/s.txt')).mtime, PAST);
  await client.upload(file, '/r.bin', { resume: true, mtime: PAST + 1000 });
  assert.is((await client.stat('/r.bin')).mtime, PAST + 1000);
  await client.upload(file, '/r.bin', { overwrite: true, mtime: 0 });
  assert.is((await client.stat('/r.bin')).mtime, 0);
});

test('download with preserveMtime sets the local mtime from the server; without it, now', async () => {
  const t = await testServer();
  const local = await tempDir();
  await fsp.writeFile(path.join(t.root, 'd.txt'), 'data');
  await fsp.utimes(path.join(t.root, 'd.txt'), PAST / 1000, PAST / 1000);
  const client = await t.connect();
  const remote = (await client.stat('/d.txt')).mtime;
  await client.download('/d.txt', path.join(local, 'd.txt'), { preserveMtime: true });
  assert.is(Math.floor((await fsp.stat(path.join(local, 'd.txt'))).mtimeMs), remote);
  await client.download('/d.txt', path.join(local, 'e.txt'));
  assert.ok((await fsp.stat(path.join(local, 'e.txt'))).mtimeMs > Date.now() - 60_000);
  // a resumable download too
  await client.download('/d.txt', path.join(local, 'f.txt'), { preserveMtime: true, resume: true });
  assert.is(Math.floor((await fsp.stat(path.join(local, 'f.txt'))).mtimeMs), remote);
});

test('a bad mtime is refused with EINVAL before anything is stored', async () => {
  const t = await testServer();
  const client = await t.connect();
  const { Readable } = await import('node:stream');
  const refused = await client.upload(Readable.from([Buffer.from('x')]), '/x', { mtime: -5 }).then(
    () => undefined,
    (err: Error) => err,
  );
  assert.instance(refused, TypeError);
  const raw = await import('../core/helpers.ts');
  const rc = await raw.RawClient.connect(t.port);
  await rc.login('alice', 'alice-password');
  rc.request(2, { op: 'upload', path: '/bad.txt', size: 1, mtime: 'yesterday' });
  const answer = await rc.next((f) => f.stream === 2);
  assert.is(raw.json(answer).code, 'EINVAL');
  await rejects(client.stat('/bad.txt'), 'ENOENT');
});

test.run();
