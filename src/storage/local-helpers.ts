/**
 * Small helpers of {@link LocalStorage}: containment checks, entries, batched stats, usage.
 * @internal
 * @module
 */
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { isMissing, storageError } from './fs-errors.ts';
import type { Entry } from './types.ts';

/** How many entries `list` and `usage` stat at once. @internal */
export const STAT_BATCH = 32;

/** The {@link Entry} of a file or folder. @internal */
export function entryOf(name: string, stats: Stats): Entry {
  const type = stats.isDirectory() ? 'directory' : 'file';
  return { name, type, size: type === 'file' ? stats.size : 0, mtime: Math.floor(stats.mtimeMs) };
}

/**
 * A read's file version (`ReadHandle.version`): the file's identity and state as one string. Both
 * read paths (pooled and small-file) must give the same string for the same file, because two
 * opens are compared by it (a file changed between them) and the SHA-256 cache is keyed by it.
 * @internal
 */
export function fileVersion(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

/** Sort order of listings: by name, code unit by code unit (not locale-dependent). @internal */
export function byName(a: Entry, b: Entry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** `EINVAL` unless `value` is a safe integer >= `min`. @internal */
export function checkCount(value: unknown, name: string, remote: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw storageError('EINVAL', remote, `${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Run `fn` over `items`, at most {@link STAT_BATCH} at a time. @internal */
export async function inBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += STAT_BATCH) out.push(...(await Promise.all(items.slice(i, i + STAT_BATCH).map(fn))));
  return out;
}

/** Is `child` the folder `parent` or inside it? Both are absolute, normalised paths. @internal */
export function isInside(parent: string, child: string): boolean {
  if (child === parent) return true;
  const prefix = parent.endsWith(path.sep) ? parent : parent + path.sep;
  return child.startsWith(prefix);
}

/** Total size of the files under `abs`, symbolic links not followed; entries removed meanwhile count 0. @internal */
export async function sizeOf(abs: string): Promise<number> {
  const top = await fsp.lstat(abs);
  if (!top.isDirectory()) return top.isFile() ? top.size : 0;
  let total = 0;
  const folders = [abs];
  for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
    let dirents;
    try {
      dirents = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
    const files: string[] = [];
    for (const d of dirents) {
      if (d.isDirectory()) folders.push(path.join(dir, d.name));
      else if (d.isFile()) files.push(path.join(dir, d.name));
    }
    const sizes = await inBatches(files, (file) =>
      fsp.lstat(file).then(
        (s) => s.size,
        (err: unknown) => {
          if (isMissing(err)) return 0;
          throw err;
        },
      ),
    );
    for (const size of sizes) total += size;
  }
  return total;
}
