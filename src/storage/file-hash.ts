/**
 * SHA-256 of stored files for `stat { sha256: true }`, and the cache that makes a second ask for an
 * unchanged file free. A cache entry is keyed by the file version an open reported (LocalStorage:
 * device, inode, size and mtime in ns), read from the same descriptor as the bytes, so a file
 * replaced or rewritten meanwhile gets a new key and is hashed again; a stale hash is never served.
 * @module
 */
import { createHash } from 'node:crypto';
import { FileShareError } from '../errors.ts';
import type { Storage } from './types.ts';

/** A bounded least-recently-used map from file version to SHA-256. */
export class HashCache {
  readonly #max: number;
  readonly #map = new Map<string, string>();

  /** @param max - most versions remembered (each costs about 200 bytes). @default 100000 */
  constructor(max = 100_000) {
    if (!Number.isSafeInteger(max) || max < 0) throw new TypeError('HashCache: max must be a non-negative integer');
    this.#max = max;
  }

  /** The hash of `version`, if known (and mark it recently used). */
  get(version: string): string | undefined {
    const hit = this.#map.get(version);
    if (hit !== undefined) {
      this.#map.delete(version);
      this.#map.set(version, hit);
    }
    return hit;
  }

  /** Remember the hash of `version`, forgetting the least recently used beyond the bound. */
  set(version: string, sha256: string): void {
    if (this.#max === 0) return;
    this.#map.delete(version);
    this.#map.set(version, sha256);
    while (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }

  /** Versions remembered. */
  get size(): number {
    return this.#map.size;
  }
}

/**
 * SHA-256 (hex) of the file at `path` of `storage`, through `cache` when the storage reports file
 * versions. Reads the whole file on a miss.
 * @throws FileShareError as `openRead` (`ENOENT`, `EISDIR`, ...), `EIO` if the file changed while read
 */
export async function hashStoredFile(storage: Storage, path: string, cache: HashCache | undefined, signal?: AbortSignal): Promise<string> {
  const handle = await storage.openRead(path, { highWaterMark: 1 << 20 });
  const key = handle.version;
  const hit = key === undefined ? undefined : cache?.get(key);
  if (hit !== undefined) {
    handle.stream.destroy();
    return hit;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of handle.stream) {
      if (signal?.aborted) throw new FileShareError('EABORTED', 'hashing was cancelled');
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } finally {
    handle.stream.destroy();
  }
  if (bytes !== handle.size) throw new FileShareError('EIO', `${path} changed while it was being hashed`);
  const digest = hash.digest('hex');
  if (key !== undefined) cache?.set(key, digest);
  return digest;
}
