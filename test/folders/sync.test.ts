/** sync: plans (new, changed, deleted, unchanged, mtime-only changes) and their execution both ways. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SyncPlan } from '../../src/index.ts';
import { LocalStorage } from '../../src/index.ts';
import { dispose, rejects, tempDir, testServer, walk } from '../core/helpers.ts';

test.after.each(dispose);

async function write(root: string, rel: string, data: string, mtimeMs?: number): Promise<void> {
  const file = path.join(root, ...rel.split('/'));
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, data);
  if (mtimeMs !== undefined) await fsp.utimes(file, mtimeMs / 1000, mtimeMs / 1000);
}

const paths = (list: SyncPlan['create']) => list.map((e) => e.path);

test('sync up: a second run of an unchanged tree transfers nothing; then new, changed and deleted files', async () => {
  const t = await testServer();
  const local = await tempDir();
  await write(local, 'keep.txt', 'keep');
  await write(local, 'change.txt', 'v1');
  await write(local, 'gone.txt', 'gone');
  await write(local, 'dir/gone-too/x.txt', 'x');
  await fsp.mkdir(path.join(local, 'empty'));
  const client = await t.connect();
  const first = await client.sync(local, '/mirror', { direction: 'up' });
  assert.equal(paths(first.plan.create), ['change.txt', 'dir/gone-too/x.txt', 'gone.txt', 'keep.txt']);
  assert.equal(paths(first.plan.folders), ['dir', 'dir/gone-too', 'empty']);
  assert.is(first.transferred.length, 4);

  const second = await client.sync(local, '/mirror', { direction: 'up' });
  assert.is(second.transferred.length, 0);
  assert.is(second.plan.unchanged.length, 4);
  assert.is(second.plan.bytes, 0);

  await write(local, 'change.txt', 'version 2');
  await write(local, 'new/file.txt', 'new');
  await fsp.rm(path.join(local, 'gone.txt'));
  await fsp.rm(path.join(local, 'dir', 'gone-too'), { recursive: true });
  const dry = await client.sync(local, '/mirror', { direction: 'up', delete: true, dryRun: true });
  assert.ok(dry.dryRun);
  assert.equal(paths(dry.plan.create), ['new/file.txt']);
  assert.equal(paths(dry.plan.update), ['change.txt']);
  assert.equal(paths(dry.plan.unchanged), ['keep.txt']);
  assert.equal(paths(dry.plan.extra), ['dir/gone-too', 'gone.txt']);
  assert.equal(paths(dry.plan.folders), ['new']);
  // a dry run changed nothing
  assert.ok(
    await fsp.stat(path.join(t.root, 'mirror', 'gone.txt')).then(
      () => true,
      () => false,
    ),
  );
  assert.is(await fsp.readFile(path.join(t.root, 'mirror', 'change.txt'), 'utf8'), 'v1');

  const keepExtra = await client.sync(local, '/mirror', { direction: 'up' });
  assert.equal(keepExtra.deleted, []);
  assert.ok(
    await fsp.stat(path.join(t.root, 'mirror', 'gone.txt')).then(
      () => true,
      () => false,
    ),
  );
  const real = await client.sync(local, '/mirror', { direction: 'up', delete: true });
  assert.equal(real.deleted, ['dir/gone-too', 'gone.txt']);
  assert.equal(await walk(path.join(t.root, 'mirror')), await walk(local));
  assert.is(await fsp.readFile(path.join(t.root, 'mirror', 'change.txt'), 'utf8'), 'version 2');
});

test('compare sha256: an mtime-only change is unchanged; size-mtime sees it as changed', async () => {
  const t = await testServer();
  const local = await tempDir();
  await write(local, 'a.txt', 'same content');
  await write(local, 'b.txt', 'abc');
  const client = await t.connect();
  await client.sync(local, '/s', { direction: 'up' });
  await fsp.utimes(path.join(local, 'a.txt'), Date.UTC(2019, 0, 1) / 1000, Date.UTC(2019, 0, 1) / 1000);
  await write(local, 'b.txt', 'xyz'); // same size, new content
  const bySize = await client.sync(local, '/s', { direction: 'up', dryRun: true });
  assert.equal(paths(bySize.plan.update), ['a.txt', 'b.txt']);
  const byHash = await client.sync(local, '/s', { direction: 'up', compare: 'sha256' });
  assert.equal(paths(byHash.plan.update), ['b.txt']);
  assert.equal(paths(byHash.plan.unchanged), ['a.txt']);
  assert.is(await fsp.readFile(path.join(t.root, 's', 'b.txt'), 'utf8'), 'xyz');
});

test('sync down: only differences come back, local extras deleted with delete, empty folders made', async () => {
  const t = await testServer();
  await write(t.root, 'r/one.txt', 'one', Date.UTC(2022, 1, 2));
  await write(t.root, 'r/sub/two.txt', 'two', Date.UTC(2022, 1, 3));
  await fsp.mkdir(path.join(t.root, 'r', 'hollow'));
  const local = await tempDir();
  const client = await t.connect();
  const first = await client.sync(local, '/r', { direction: 'down' });
  assert.is(first.transferred.length, 2);
  assert.equal(await walk(local), ['hollow', 'one.txt', 'sub', 'sub/two.txt']);
  assert.is(Math.floor((await fsp.stat(path.join(local, 'one.txt'))).mtimeMs), Date.UTC(2022, 1, 2));
  assert.is((await client.sync(local, '/r', { direction: 'down' })).transferred.length, 0);
  await write(local, 'mine.txt', 'local only');
  await write(t.root, 'r/one.txt', 'ONE!', Date.UTC(2023, 1, 2));
  const next = await client.sync(local, '/r', { direction: 'down', delete: true });
  assert.equal(
    next.transferred.map((x) => x.path),
    ['one.txt'],
  );
  assert.equal(next.deleted, ['mine.txt']);
  assert.is(await fsp.readFile(path.join(local, 'one.txt'), 'utf8'), 'ONE!');
  await rejects(client.sync(local, '/no-such', { direction: 'down' }), 'ENOENT');
});

test('a file on one side where the other has a folder is a conflict, never resolved by deleting', async () => {
  const t = await testServer();
  const local = await tempDir();
  await write(local, 'x', 'a file here');
  await write(t.root, 'c/x/inside.txt', 'a folder there');
  const client = await t.connect();
  await rejects(client.sync(local, '/c', { direction: 'up', delete: true }), 'EISDIR');
  const r = await client.sync(local, '/c', { direction: 'up', delete: true, continueOnError: true });
  assert.equal(
    r.failed.map((f) => f.path),
    ['x'],
  );
  assert.equal(r.deleted, []);
  assert.is(await fsp.readFile(path.join(t.root, 'c', 'x', 'inside.txt'), 'utf8'), 'a folder there');
});

test('stat sha256 is computed by the server and cached per file version', async () => {
  const t = await testServer();
  await write(t.root, 'h.txt', 'hash me');
  const client = await t.connect();
  const { createHash } = await import('node:crypto');
  const expected = createHash('sha256').update('hash me').digest('hex');
  assert.is((await client.stat('/h.txt', { sha256: true })).sha256, expected);
  assert.is((await client.stat('/h.txt')).sha256, undefined);
  assert.is((await client.stat('/', { sha256: true })).sha256, undefined);
  await write(t.root, 'h.txt', 'changed', Date.now() + 5000);
  assert.is((await client.stat('/h.txt', { sha256: true })).sha256, createHash('sha256').update('changed').digest('hex'));

  // the cache: a second ask of the same version does not read the file
  const storage = new LocalStorage(t.root);
  let reads = 0;
  const open = storage.openRead.bind(storage);
  storage.openRead = async (p, o) => {
    const h = await open(p, o);
    h.stream.once('data', () => reads++);
    return h;
  };
  assert.is(await storage.sha256('/h.txt'), createHash('sha256').update('changed').digest('hex'));
  const afterFirst = reads;
  assert.is(await storage.sha256('/h.txt'), createHash('sha256').update('changed').digest('hex'));
  const home = await storage.scope('/');
  await home.sha256('/h.txt');
  assert.is(reads, afterFirst);
  assert.is(afterFirst, 1);
});

test.run();
