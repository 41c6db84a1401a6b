/**
 * Test files: random content written in chunks (never the whole file in memory), SHA-256 by
 * streaming, temporary folders that are removed after each workload (they hold GiBs).
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';

const CHUNK = 1024 * 1024;

/** A file the harness made, with its size and SHA-256 (hex). */
export interface TestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** Write `size` random bytes to `file`, 1 MiB at a time, hashing as it goes. */
export async function makeRandomFile(file: string, size: number): Promise<TestFile> {
  const out = createWriteStream(file, { highWaterMark: CHUNK });
  const hash = createHash('sha256');
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => {});
  let left = size;
  while (left > 0) {
    // A fresh buffer each time: write() keeps a reference until the bytes are on their way.
    const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, left)));
    hash.update(chunk);
    left -= chunk.length;
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  }
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return { path: file, size, sha256: hash.digest('hex') };
}

/** `count` random files of `size` bytes in `dir`, named f00000.bin, f00001.bin, ... */
export async function makeSmallFiles(dir: string, count: number, size: number): Promise<TestFile[]> {
  await mkdir(dir, { recursive: true });
  const files: TestFile[] = [];
  for (let i = 0; i < count; i++) {
    const data = randomBytes(size);
    const file = path.join(dir, `f${String(i).padStart(5, '0')}.bin`);
    await writeFile(file, data);
    files.push({ path: file, size, sha256: createHash('sha256').update(data).digest('hex') });
  }
  return files;
}

/** SHA-256 (hex) and size of a file, read in 1 MiB chunks. */
export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Check that `copy` has the content of `original`; returns an error message, or undefined when the
 * copy is intact.
 */
export async function verifyCopy(copy: string, original: TestFile): Promise<string | undefined> {
  try {
    const got = await sha256File(copy);
    if (got.size !== original.size) return `${path.basename(copy)}: ${got.size} bytes, expected ${original.size}`;
    if (got.sha256 !== original.sha256) return `${path.basename(copy)}: SHA-256 mismatch`;
    return undefined;
  } catch (error) {
    return `${path.basename(copy)}: ${(error as Error).message}`;
  }
}

/** Put `file` at `target` without copying data when possible (hard link, else copy). */
export async function place(file: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  await rm(target, { force: true });
  try {
    await link(file, target);
  } catch {
    await copyFile(file, target);
  }
}

const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** A fresh temporary folder, removed by {@link removeTempDir} or, at the latest, when we exit. */
export async function makeTempDir(label: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `fileshare-bench-${label}-`));
  liveDirs.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  liveDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Remove files if they exist (received copies, between runs). */
export async function removeFiles(...files: string[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f, { recursive: true, force: true })));
}
