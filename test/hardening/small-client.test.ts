/**
 * The client's inline path for small files (client/small-download.ts, the source read in
 * client/upload.ts): downloads verified and renamed into place, nothing left behind on failure or
 * abort, a missing local folder reported with its code, and many in flight at once (past the
 * per-turn budget, where the pooled path takes over) all correct.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispose, rejects, tempDir, tempFiles, testServer, waitFor, walk } from './helpers.ts';

test.after.each(dispose);

const KiB = 1024;

test('small downloads: 48 at once, each whole with its mtime, no temporary file left', async () => {
  const t = await testServer();
  const files = Array.from({ length: 48 }, (_, i) => ({ name: `f${i}.bin`, data: randomBytes(i === 0 ? 0 : 4 * KiB + i) }));
  for (const f of files) await fsp.writeFile(path.join(t.root, f.name), f.data);
  const client = await t.connect();
  const local = await tempDir();
  await Promise.all(files.map((f) => client.download(`/${f.name}`, path.join(local, f.name), { preserveMtime: true })));
  for (const f of files) {
    assert.ok((await fsp.readFile(path.join(local, f.name))).equals(f.data), f.name);
    const remote = await fsp.stat(path.join(t.root, f.name));
    assert.is(Math.floor((await fsp.stat(path.join(local, f.name))).mtimeMs), Math.floor(remote.mtimeMs));
  }
  assert.equal(await tempFiles(local), []);
});

test('small download into a missing folder: ENOENT, nothing created; the connection goes on', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'f.bin'), randomBytes(4 * KiB));
  const client = await t.connect();
  const local = await tempDir();
  await rejects(client.download('/f.bin', path.join(local, 'missing', 'f.bin')), 'ENOENT');
  assert.equal(await walk(local), []);
  await client.download('/f.bin', path.join(local, 'f.bin'));
  assert.equal(await walk(local), ['f.bin']);
});

test('small downloads aborted at once and mid-flight: EABORTED, no file under any name', async () => {
  const t = await testServer();
  for (let i = 0; i < 16; i++) await fsp.writeFile(path.join(t.root, `f${i}.bin`), randomBytes(4 * KiB));
  const client = await t.connect();
  const local = await tempDir();
  const controller = new AbortController();
  const pending = Array.from({ length: 16 }, (_, i) =>
    client.download(`/f${i}.bin`, path.join(local, `f${i}.bin`), { signal: controller.signal }).then(
      () => 'done',
      (err: { code?: string }) => err.code,
    ),
  );
  controller.abort();
  const outcomes = await Promise.all(pending);
  assert.ok(
    outcomes.every((o) => o === 'done' || o === 'EABORTED'),
    JSON.stringify(outcomes),
  );
  await waitFor(async () => (await tempFiles(local)).length === 0, 3000, 'the temporary files to go');
  const names = await walk(local);
  // what finished is whole; what was aborted is not there
  for (const [i, outcome] of outcomes.entries()) assert.is(names.includes(`f${i}.bin`), outcome === 'done');
});

test('small uploads from local files: 48 at once, one of them missing (ENOENT), the others stored whole', async () => {
  const t = await testServer();
  const client = await t.connect();
  const local = await tempDir();
  const files = await Promise.all(
    Array.from({ length: 48 }, async (_, i) => {
      const file = path.join(local, `f${i}.bin`);
      if (i !== 5) await fsp.writeFile(file, randomBytes(4 * KiB));
      return file;
    }),
  );
  const results = await Promise.allSettled(files.map((file, i) => client.upload(file, `/f${i}.bin`)));
  await rejects(Promise.reject((results[5] as PromiseRejectedResult).reason), 'ENOENT');
  assert.is(results.filter((r) => r.status === 'fulfilled').length, 47);
  for (const [i, file] of files.entries()) {
    if (i === 5) continue;
    assert.ok((await fsp.readFile(path.join(t.root, `f${i}.bin`))).equals(await fsp.readFile(file)));
  }
  assert.equal(await tempFiles(t.root), []);
});

test.run();
