/**
 * The real path of a name as local-lookup.ts answers it (the kernel's, through an `O_PATH`
 * descriptor on Linux): the same as realpath(3) for every kind of path the storage resolves, with
 * the same error codes, and without opening what the name is (a FIFO does not block).
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp, realpathSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realpath } from '../../src/storage/local-lookup.ts';
import { cleanup, tempDir } from './fixtures.ts';

test.after.each(cleanup);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

function nativeCode(file: string): string | undefined {
  try {
    realpathSync.native(file);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

test('realpath: the same answer as realpath(3) through folders, links, relative links and dots', async () => {
  const base = await tempDir('fs-lookup-');
  const other = await tempDir('fs-lookup-other-');
  await fsp.mkdir(path.join(base, 'a', 'b', 'c'), { recursive: true });
  await fsp.writeFile(path.join(base, 'a', 'b', 'c', 'file.txt'), 'x');
  await fsp.mkdir(path.join(other, 'elsewhere'));
  await fsp.symlink(path.join(base, 'a', 'b'), path.join(base, 'to-b'));
  await fsp.symlink('b/c/file.txt', path.join(base, 'a', 'rel-file'));
  await fsp.symlink(path.join(other, 'elsewhere'), path.join(base, 'a', 'b', 'out'));
  await fsp.symlink('../../../to-b', path.join(base, 'a', 'b', 'c', 'back'));
  await fsp.writeFile(path.join(base, 'name with spaces ünï (deleted)'), 'y');
  const cases = [
    base,
    path.join(base, 'a', 'b', 'c'),
    path.join(base, 'a', 'b', 'c', 'file.txt'),
    path.join(base, 'to-b', 'c'),
    path.join(base, 'to-b', 'c', 'file.txt'),
    path.join(base, 'a', 'rel-file'),
    path.join(base, 'a', 'b', 'out'),
    path.join(base, 'a', 'b', 'c', 'back', 'c', 'back', 'c'),
    `${base}/a/./b/../b/c`,
    path.join(base, 'name with spaces ünï (deleted)'),
  ];
  for (const file of cases) assert.is(await realpath(file), realpathSync.native(file), file);
});

test('realpath: the same error codes as realpath(3): ENOENT, ENOTDIR, ELOOP, a dangling link, a path over PATH_MAX', async () => {
  const base = await tempDir('fs-lookup-');
  await fsp.writeFile(path.join(base, 'file'), 'x');
  await fsp.symlink('loop', path.join(base, 'loop'));
  await fsp.symlink(path.join(base, 'missing'), path.join(base, 'dangling'));
  const cases = [
    path.join(base, 'missing'),
    path.join(base, 'missing', 'deeper'),
    path.join(base, 'file', 'below-a-file'),
    path.join(base, 'loop'),
    path.join(base, 'loop', 'x'),
    path.join(base, 'dangling'),
    // longer than PATH_MAX, missing from its first folder on: realpath(3) says ENOENT, where an
    // open of the whole path would say ENAMETOOLONG
    path.join(base, ...Array.from({ length: 130 }, () => 'd'.repeat(31))),
  ];
  for (const file of cases) {
    const expected = nativeCode(file);
    assert.ok(expected !== undefined, `realpath(3) fails on ${file}`);
    assert.is(await codeOf(realpath(file)), expected, file);
  }
});

test('realpath of a FIFO answers at once: the name is resolved, not opened', async () => {
  if (process.platform === 'win32') return;
  const base = await tempDir('fs-lookup-');
  const fifo = path.join(base, 'pipe');
  execFileSync('mkfifo', [fifo]);
  await fsp.symlink(fifo, path.join(base, 'to-pipe'));
  assert.is(await realpath(path.join(base, 'to-pipe')), fifo);
});

test.run();
