/** uploadDir / downloadDir: whole trees over one connection, with selection, errors and cancellation. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FolderProgress } from '../../src/index.ts';
import { dispose, isTempName, randomData, rejects, tempDir, tempFiles, testServer, waitFor, walk } from '../core/helpers.ts';

test.after.each(dispose);

const PAST = Date.UTC(2021, 5, 6, 7, 8, 9, 456);

/** A tree with nesting, an empty folder, spaces and Unicode in names, and one medium file. */
async function makeTree(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>([
    ['top.txt', Buffer.from('top')],
    ['a/one.bin', randomData(1000)],
    ['a/b/c/deep.txt', Buffer.from('deep')],
    ['with space/naïve ünïcödé 日本.txt', Buffer.from('unicode')],
    ['a/medium.bin', randomData(3 * 1024 * 1024 + 5)],
    ['.hidden', Buffer.from('dot')],
  ]);
  for (const [rel, data] of files) {
    const file = path.join(dir, ...rel.split('/'));
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, data);
    await fsp.utimes(file, PAST / 1000, PAST / 1000);
  }
  await fsp.mkdir(path.join(dir, 'empty', 'nested-empty'), { recursive: true });
  return files;
}

async function sameTree(a: string, b: string): Promise<void> {
  const names = await walk(a);
  assert.equal(await walk(b), names);
  for (const rel of names) {
    const [sa, sb] = [await fsp.lstat(path.join(a, rel)), await fsp.lstat(path.join(b, rel))];
    assert.is(sb.isDirectory(), sa.isDirectory(), rel);
    if (sa.isFile()) {
      assert.ok((await fsp.readFile(path.join(a, rel))).equals(await fsp.readFile(path.join(b, rel))), rel);
      assert.is(Math.floor(sb.mtimeMs), Math.floor(sa.mtimeMs), `mtime of ${rel}`);
    }
  }
}

test('uploadDir then downloadDir round-trips a nested tree with empty folders, odd names and mtimes', async () => {
  const t = await testServer();
  const src = await tempDir();
  const files = await makeTree(src);
  const client = await t.connect();
  const progress: FolderProgress[] = [];
  const up = await client.uploadDir(src, '/backup/2024', { concurrency: 4, onProgress: (p) => progress.push(p) });
  assert.is(up.transferred.length, files.size);
  assert.is(up.failed.length, 0);
  assert.is(
    up.bytes,
    [...files.values()].reduce((n, b) => n + b.length, 0),
  );
  assert.ok(up.foldersCreated >= 6);
  await sameTree(src, path.join(t.root, 'backup', '2024'));
  const last = progress.at(-1)!;
  assert.equal([last.filesDone, last.filesTotal, last.bytesDone, last.bytesTotal], [files.size, files.size, up.bytes, up.bytes]);

  const dst = await tempDir();
  const down = await client.downloadDir('/backup/2024', path.join(dst, 'copy'));
  assert.is(down.transferred.length, files.size);
  await sameTree(src, path.join(dst, 'copy'));
  assert.equal(await tempFiles(path.join(dst, 'copy')), []);
});

test('existing files are skipped unless overwrite; include, exclude and filter select', async () => {
  const t = await testServer();
  const src = await tempDir();
  await makeTree(src);
  const client = await t.connect();
  await client.mkdir('/t');
  const { Readable } = await import('node:stream');
  await client.upload(Readable.from([Buffer.from('old')]), '/t/top.txt', { overwrite: true });
  const first = await client.uploadDir(src, '/t', { exclude: ['a/b/**', '**/*.bin'] });
  assert.ok(first.skipped.some((s) => s.path === 'top.txt' && s.reason === 'exists'));
  assert.ok(first.skipped.some((s) => s.path === 'a/one.bin' && s.reason === 'filtered'));
  assert.is(await fsp.readFile(path.join(t.root, 't', 'top.txt'), 'utf8'), 'old');
  assert.not.ok(
    await fsp.stat(path.join(t.root, 't', 'a', 'b', 'c')).then(
      () => true,
      () => false,
    ),
  );
  const second = await client.uploadDir(src, '/t', { overwrite: true, include: '*.txt' });
  assert.equal(
    second.transferred.map((x) => x.path),
    ['a/b/c/deep.txt', 'top.txt', 'with space/naïve ünïcödé 日本.txt'],
  );
  assert.is(await fsp.readFile(path.join(t.root, 't', 'top.txt'), 'utf8'), 'top');

  const dst = await tempDir();
  const only = await client.downloadDir('/t', dst, { filter: (e) => e.type === 'directory' || e.size < 5 });
  assert.equal(only.transferred.map((x) => x.path).sort(), ['.hidden', 'a/b/c/deep.txt', 'top.txt']);
});

test('symbolic links are skipped by default; followSymlinks follows those inside the tree only', async () => {
  const t = await testServer();
  const src = await tempDir();
  const outside = await tempDir();
  await fsp.writeFile(path.join(outside, 'secret.txt'), 'secret');
  await fsp.writeFile(path.join(src, 'real.txt'), 'real');
  await fsp.mkdir(path.join(src, 'dir'));
  await fsp.writeFile(path.join(src, 'dir', 'x.txt'), 'x');
  await fsp.symlink(path.join(src, 'real.txt'), path.join(src, 'link.txt'));
  await fsp.symlink(path.join(outside, 'secret.txt'), path.join(src, 'out.txt'));
  await fsp.symlink(outside, path.join(src, 'outdir'));
  await fsp.symlink(src, path.join(src, 'dir', 'loop'));
  const client = await t.connect();
  const plain = await client.uploadDir(src, '/p');
  assert.equal(
    plain.transferred.map((x) => x.path),
    ['dir/x.txt', 'real.txt'],
  );
  assert.equal(
    plain.skipped.map((s) => `${s.path}:${s.reason}`),
    ['dir/loop:symlink', 'link.txt:symlink', 'out.txt:symlink', 'outdir:symlink'],
  );
  const followed = await client.uploadDir(src, '/f', { followSymlinks: true });
  assert.equal(
    followed.transferred.map((x) => x.path),
    ['dir/x.txt', 'link.txt', 'real.txt'],
  );
  assert.is(await fsp.readFile(path.join(t.root, 'f', 'link.txt'), 'utf8'), 'real');
  assert.not.ok((await walk(t.root)).some((n) => n.includes('secret')));

  // downloading into a folder where a link stands for a subfolder never writes through it
  await fsp.mkdir(path.join(t.root, 'r', 'sub'), { recursive: true });
  await fsp.writeFile(path.join(t.root, 'r', 'sub', 'evil.txt'), 'evil');
  const dst = await tempDir();
  await fsp.symlink(outside, path.join(dst, 'sub'));
  const down = await client.downloadDir('/r', dst, { followSymlinks: true });
  assert.equal(down.transferred, []);
  assert.ok(down.skipped.some((s) => s.path === 'sub' && s.reason === 'symlink'));
  assert.equal(await fsp.readdir(outside), ['secret.txt']);
});

test('a failing file mid-tree: without continueOnError the call rejects, with it the rest is transferred', async () => {
  const t = await testServer({ server: { maxFileSize: 100_000 } });
  const src = await tempDir();
  for (let i = 0; i < 20; i++) await fsp.writeFile(path.join(src, `f${String(i).padStart(2, '0')}.txt`), `file ${i}`);
  await fsp.writeFile(path.join(src, 'f10.txt'), randomData(200_000)); // over the server's limit
  const client = await t.connect();
  const err = await rejects(client.uploadDir(src, '/stop', { concurrency: 2 }), 'ETOOLARGE');
  assert.match(err.message, /f10\.txt/);
  // the files in flight were cancelled: the client settles at once, the server removes their
  // temporary files as it hears of the cancel (a moment later), and never leaves one behind
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, 'the cancelled uploads to be cleaned up');
  assert.not.ok(
    await fsp.stat(path.join(t.root, 'stop', 'f10.txt')).then(
      () => true,
      () => false,
    ),
  );

  const result = await client.uploadDir(src, '/go', { concurrency: 3, continueOnError: true });
  assert.is(result.transferred.length, 19);
  assert.equal(
    result.failed.map((f) => [f.path, f.error.code]),
    [['f10.txt', 'ETOOLARGE']],
  );
  assert.equal(await tempFiles(t.root), []);
  // the connection is still fine
  assert.ok((await client.ping()) >= 0);
});

test('cancellation mid-tree rejects with EABORTED and leaves nothing under any target name', async () => {
  const t = await testServer();
  const src = await tempDir();
  for (let i = 0; i < 8; i++) await fsp.writeFile(path.join(src, `big${i}.bin`), randomData(4 * 1024 * 1024));
  const client = await t.connect();
  const controller = new AbortController();
  // abort when the first file is in (the in-process server tells at once): 32 MiB can all go up
  // between two of the client's progress reports, 100 ms apart, on a fast machine
  t.server.once('upload', () => controller.abort());
  const uploading = client.uploadDir(src, '/c', { concurrency: 3, signal: controller.signal });
  await rejects(uploading, 'EABORTED');
  // the server removes the temporary files of the cancelled uploads as their CANCEL arrives
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 10_000, 'the temporary files to go');
  // a request the client sent just before the abort may still make its temporary file after
  // that wait saw none (and remove it when the CANCEL behind it is read): such names are not
  // target names, and the last check below sees them gone
  const stored = (await fsp.readdir(path.join(t.root, 'c'))).filter((name) => !isTempName(name));
  for (const name of stored) {
    // whatever is there is whole: only files that completed before the abort
    assert.ok((await fsp.readFile(path.join(src, name))).equals(await fsp.readFile(path.join(t.root, 'c', name))), name);
  }
  assert.ok(stored.length >= 1 && stored.length < 8, `${stored.length} of 8 files stored`);
  // downloads likewise
  await client.uploadDir(src, '/full');
  const dst = await tempDir();
  const c2 = new AbortController();
  await rejects(
    client.downloadDir('/full', dst, {
      signal: c2.signal,
      concurrency: 2,
      onProgress: (p) => {
        if (p.bytesDone > 1024 * 1024) c2.abort();
      },
    }),
    'EABORTED',
  );
  for (const name of await fsp.readdir(dst)) {
    assert.not.match(name, /fileshare-part/);
    assert.ok((await fsp.readFile(path.join(src, name))).equals(await fsp.readFile(path.join(dst, name))), name);
  }
  const again = await client.downloadDir('/full', dst);
  assert.is(again.transferred.length + again.skipped.length, 8);
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 10_000, 'every temporary file to go');
});

test('a folder too large to list synchronously is walked whole, beside small ones', async () => {
  const t = await testServer();
  const src = await tempDir();
  const many = 4000; // a folder size well past the walk's 64 KiB bound for synchronous listings
  await fsp.mkdir(path.join(src, 'big'));
  await Promise.all(
    Array.from({ length: many }, (_, i) => fsp.writeFile(path.join(src, 'big', `file-${String(i).padStart(5, '0')}.txt`), '')),
  );
  await fsp.mkdir(path.join(src, 'small', 'inner'), { recursive: true });
  await fsp.writeFile(path.join(src, 'small', 'inner', 'one.txt'), 'one');
  const bigSize = (await fsp.stat(path.join(src, 'big'))).size;
  assert.ok(bigSize > 64 * 1024, `the big folder reports ${bigSize} bytes: it must take the pooled listing`);
  const client = await t.connect();
  const plan = (await client.sync(src, '/tree', { direction: 'up', dryRun: true })).plan;
  assert.is(plan.create.length, many + 1);
  assert.is(plan.create[0]!.path, 'big/file-00000.txt');
  assert.is(plan.create[many - 1]!.path, `big/file-${String(many - 1).padStart(5, '0')}.txt`);
  assert.is(plan.create[many]!.path, 'small/inner/one.txt');
  assert.equal(
    plan.folders.map((f) => f.path),
    ['big', 'small', 'small/inner'],
  );
});

test('bad arguments and missing folders fail clearly', async () => {
  const t = await testServer();
  const client = await t.connect();
  const src = await tempDir();
  await rejects(client.uploadDir(path.join(src, 'nope'), '/x'), 'ENOENT');
  await rejects(client.downloadDir('/nope', src), 'ENOENT');
  await fsp.writeFile(path.join(t.root, 'file'), 'x');
  await rejects(client.downloadDir('/file', src), 'ENOTDIR');
  const refused = await client.uploadDir(src, '/x', { concurrency: 0 }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(refused, TypeError);
});

test.run();
