/**
 * How much of a folder transfer is in flight at once: the default `concurrency` (32), the bound a
 * given one sets on files, folder creations and listings alike, and trees larger than one batch of
 * the walk's and the server listing's synchronous lookups.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FolderClient } from '../../src/client/folder-types.ts';
import { downloadDir, uploadDir } from '../../src/client/folders.ts';
import { defer, dispose, tempDir, tempFiles, testServer } from '../core/helpers.ts';

test.after.each(dispose);

/** 10 folders of 3 subfolders with `perLeaf` files each, and `flat` more in one folder (past one batch of lookups). */
async function makeTree(dir: string, perLeaf: number, flat: number): Promise<string[]> {
  const rels: string[] = [];
  for (let d = 0; d < 10; d++) for (let e = 0; e < 3; e++) for (let f = 0; f < perLeaf; f++) rels.push(`d${d}/e${e}/f${f}.txt`);
  for (let f = 0; f < flat; f++) rels.push(`flat/f${String(f).padStart(3, '0')}.txt`);
  for (const rel of rels) {
    const file = path.join(dir, ...rel.split('/'));
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, rel);
  }
  return rels.sort();
}

/** The client's calls, counting how many of each kind are unsettled at once. */
function counting(client: FolderClient): { client: FolderClient; peak: Record<string, number> } {
  const now: Record<string, number> = {};
  const peak: Record<string, number> = {};
  const wrap =
    <A extends unknown[], R>(kind: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      now[kind] = (now[kind] ?? 0) + 1;
      now.all = (now.all ?? 0) + 1;
      peak[kind] = Math.max(peak[kind] ?? 0, now[kind]);
      peak.all = Math.max(peak.all ?? 0, now.all);
      try {
        return await fn(...args);
      } finally {
        now[kind]!--;
        now.all!--;
      }
    };
  return {
    peak,
    client: {
      list: wrap('list', (dir) => client.list(dir)),
      stat: wrap('stat', (p, o) => client.stat(p, o)),
      mkdir: wrap('mkdir', (p, o) => client.mkdir(p, o)),
      rmdir: wrap('rmdir', (p, o) => client.rmdir(p, o)),
      delete: wrap('delete', (p) => client.delete(p)),
      upload: wrap('upload', (s, r, o) => client.upload(s, r, o)),
      download: wrap('download', (r, d, o) => client.download(r, d, o)),
    },
  };
}

test('by default 32 files move at once, and folders are created and listed up to 32 at once', async () => {
  // 32 files listening on one signal must not look like a leak to Node
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  defer(() => process.off('warning', onWarning));
  const t = await testServer();
  const src = await tempDir();
  const rels = await makeTree(src, 3, 300);
  const real = await t.connect();
  const up = counting(real);
  const sent = await uploadDir(up.client, src, '/tree');
  assert.is(sent.transferred.length, rels.length);
  assert.equal(
    sent.transferred.map((f) => f.path),
    rels,
  );
  assert.is(sent.foldersCreated, 1 + 10 + 30 + 1);
  assert.is(up.peak.upload, 32);
  assert.ok(up.peak.mkdir! > 8 && up.peak.mkdir! <= 32, `mkdirs in flight: ${up.peak.mkdir}`);
  assert.ok(up.peak.all! <= 32, `requests in flight: ${up.peak.all}`);

  const dst = path.join(await tempDir(), 'copy');
  const down = counting(real);
  const got = await downloadDir(down.client, '/tree', dst);
  assert.equal(
    got.transferred.map((f) => f.path),
    rels,
  );
  for (const rel of rels) assert.is(await fsp.readFile(path.join(dst, ...rel.split('/')), 'utf8'), rel);
  assert.equal(await tempFiles(dst), []);
  assert.is(down.peak.download, 32);
  assert.ok(down.peak.list! > 8 && down.peak.list! <= 32, `lists in flight: ${down.peak.list}`);
  assert.ok(down.peak.all! <= 32, `requests in flight: ${down.peak.all}`);
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  assert.equal(warnings, []);
});

test('a given concurrency bounds files, folder creations and listings alike', async () => {
  const t = await testServer();
  const src = await tempDir();
  const rels = await makeTree(src, 1, 40);
  const real = await t.connect();
  const up = counting(real);
  const sent = await uploadDir(up.client, src, '/tree', { concurrency: 5 });
  assert.is(sent.transferred.length, rels.length);
  assert.is(up.peak.upload, 5);
  assert.ok(up.peak.mkdir! <= 5 && up.peak.all! <= 5, JSON.stringify(up.peak));
  const down = counting(real);
  const got = await downloadDir(down.client, '/tree', path.join(await tempDir(), 'copy'), { concurrency: 5 });
  assert.is(got.transferred.length, rels.length);
  assert.is(down.peak.download, 5);
  assert.ok(down.peak.list! <= 5 && down.peak.all! <= 5, JSON.stringify(down.peak));
});

test('a local walk past one batch of lookups keeps order, skips links and stops on abort', async () => {
  const t = await testServer();
  const src = await tempDir();
  const rels = await makeTree(src, 0, 600);
  await fsp.symlink(path.join(src, 'flat', 'f000.txt'), path.join(src, 'flat', 'link.txt'));
  const client = await t.connect();
  const sent = await client.uploadDir(src, '/big');
  assert.equal(
    sent.transferred.map((f) => f.path),
    rels,
  );
  assert.equal(sent.skipped, [{ path: 'flat/link.txt', reason: 'symlink' }]);
  assert.is((await client.list('/big/flat')).length, 600);
  // an abort while the walk yields between batches ends the call before anything moves
  const controller = new AbortController();
  setImmediate(() => controller.abort());
  const err = await client.uploadDir(src, '/none', { signal: controller.signal }).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  assert.is(err?.code, 'EABORTED');
  assert.is(
    await client.stat('/none').then(
      () => 'there',
      () => 'absent',
    ),
    'absent',
  );
});

test('the default fits a server that allows fewer requests in flight: it announces its limit in HELLO', async () => {
  const t = await testServer({ server: { maxRequestsInFlight: 6 } });
  const src = await tempDir();
  const rels = await makeTree(src, 1, 40);
  const client = await t.connect();
  // 32 at once is more than this server takes: what the default would do without the announced limit
  const forced = await client.uploadDir(src, '/forced', { concurrency: 32, continueOnError: true }).then(
    (result) => result.failed.map((f) => f.error.code),
    (error: { code?: string }) => [error.code],
  );
  assert.ok(forced.includes('EBUSY'), `32 at once against a limit of 6: ${forced.join(', ')}`);
  const sent = await client.uploadDir(src, '/tree');
  assert.equal(
    sent.transferred.map((f) => f.path),
    rels,
  );
  const got = await client.downloadDir('/tree', path.join(await tempDir(), 'copy'));
  assert.is(got.transferred.length, rels.length);
  assert.equal(got.failed, []);
  const synced = await client.sync(src, '/synced', { direction: 'up' });
  assert.is(synced.transferred.length, rels.length);
  assert.equal(synced.failed, []);
});

test('large files start first, largest first, a few at a time beside the small ones', async () => {
  const t = await testServer();
  const src = await tempDir();
  const sizes = new Map<string, number>();
  for (let i = 0; i < 60; i++) sizes.set(`d/small-${String(i).padStart(2, '0')}.txt`, 100 + i);
  // named to come last in walk order, and sized so the largest is not the first walked
  for (let i = 0; i < 10; i++) sizes.set(`z-large-${i}.bin`, 65 * 1024 + ((i * 7) % 10) * 1000);
  for (const [rel, size] of sizes) {
    const file = path.join(src, ...rel.split('/'));
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, Buffer.alloc(size, 1));
  }
  const real = await t.connect();
  const started: string[] = [];
  const client: FolderClient = {
    list: (d) => real.list(d),
    stat: (p, o) => real.stat(p, o),
    mkdir: (p, o) => real.mkdir(p, o),
    rmdir: (p, o) => real.rmdir(p, o),
    delete: (p) => real.delete(p),
    download: (r, d, o) => real.download(r, d, o),
    upload(s, r, o) {
      started.push(r.slice('/tree/'.length));
      return real.upload(s, r, o);
    },
  };
  const sent = await uploadDir(client, src, '/tree', { concurrency: 16 });
  assert.is(sent.transferred.length, sizes.size);
  assert.equal(
    sent.transferred.map((f) => f.path),
    [...sizes.keys()].sort(),
  );
  const largeOrder = started.filter((rel) => rel.startsWith('z-large'));
  assert.equal(
    largeOrder.map((rel) => sizes.get(rel)),
    largeOrder.map((rel) => sizes.get(rel)!).sort((a, b) => b - a),
  );
  // the first 16 start together: one in eight of them large
  assert.equal(
    started.slice(0, 16).map((rel) => rel.startsWith('z-large')),
    [true, true, ...Array<boolean>(14).fill(false)],
  );
  assert.equal(
    started.filter((rel) => !rel.startsWith('z-large')),
    [...sizes.keys()].filter((rel) => !rel.startsWith('z-large')).sort(),
  );
});
test.run();
