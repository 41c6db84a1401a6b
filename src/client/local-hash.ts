import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/**
 * SHA-256 of local files for `sync` with `compare: 'sha256'`, remembered per file version (path,
 * device, inode, size and mtime in ns, read from the descriptor the bytes come from), so that a
 * client syncing the same tree again hashes only what changed. It lives in memory on the client
 * object, bounded; nothing is written to disk.
 * @internal
 */
export class LocalHashCache {
  readonly #map = new Map<string, string>();

  constructor(private readonly max = 100_000) {}

  /** The file's SHA-256 (hex); read only when this version of it was not hashed before. */
  async hash(file: string, signal?: AbortSignal): Promise<string> {
    const abs = path.resolve(file);
    const handle = await fsp.open(abs, 'r');
    try {
      const s = await handle.stat({ bigint: true });
      const key = `${abs}\0${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
      const hit = this.#map.get(key);
      if (hit !== undefined) return hit;
      const hash = createHash('sha256');
      for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20, start: 0 })) {
        if (signal?.aborted) throw signal.reason;
        hash.update(chunk as Buffer);
      }
      const digest = hash.digest('hex');
      const after = await handle.stat({ bigint: true });
      if (after.size === s.size && after.mtimeNs === s.mtimeNs) {
        this.#map.set(key, digest);
        while (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!);
      }
      return digest;
    } finally {
      await handle.close();
    }
  }
}
