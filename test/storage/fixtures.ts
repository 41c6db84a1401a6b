/** Shared helpers of the storage tests: real temporary folders, removed after each test. */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import * as assert from 'uvu/assert';
import { FileShareError, type FileShareErrorCode } from '../../src/errors.ts';

const made: string[] = [];

/** A fresh folder under os.tmpdir(), by its real path; removed by {@link cleanup}. */
export async function tempDir(label = 'fs-storage-'): Promise<string> {
  const dir = await fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), label)));
  made.push(dir);
  return dir;
}

/** Remove every folder made by {@link tempDir}. Call from `test.after.each`. */
export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => fsp.rm(dir, { recursive: true, force: true })));
}

/**
 * Await `promise` and check it rejects with a FileShareError of `code`, whose message does not
 * contain any of `secrets` (server paths). Returns the error.
 */
export async function rejects(promise: Promise<unknown>, code: FileShareErrorCode, secrets: string[] = []): Promise<FileShareError> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof FileShareError)) throw err;
    assert.is(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    for (const secret of secrets) assert.ok(!err.message.includes(secret), `message leaks ${secret}: ${err.message}`);
    return err;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

/** Same for a synchronous call. */
export function throws(fn: () => unknown, code: FileShareErrorCode): FileShareError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof FileShareError)) throw err;
    assert.is(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

/** Read a stream to the end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A recursive snapshot of a folder: relative path -> file content (or `<dir>` / `<link:target>`). */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(rel: string): Promise<void> {
    for (const d of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, d.name);
      const abs = path.join(dir, r);
      if (d.isSymbolicLink()) out[r] = `<link:${await fsp.readlink(abs)}>`;
      else if (d.isDirectory()) {
        out[r] = '<dir>';
        await walk(r);
      } else out[r] = await fsp.readFile(abs, 'utf8');
    }
  }
  await walk('');
  return out;
}

/** Does anything exist at `file` (a dangling link included)? */
export async function exists(file: string): Promise<boolean> {
  return fsp.lstat(file).then(
    () => true,
    () => false,
  );
}

/** Names in `dir` that are internal temporary files. */
export async function tempFiles(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => n.startsWith('.fileshare-part-'));
}
