import { createHash, type Hash } from 'node:crypto';
import { FileShareError } from '../../errors.ts';
import { optionalCount, requireSha256 } from '../../protocol/fields.ts';
import { ProgressMeter } from '../../metrics/progress-meter.ts';
import { megabytesPerSecond } from '../../metrics/summary.ts';
import { DEFAULT_READ_SIZE } from '../../storage/file-chunks.ts';
import type { ReadHandle, Storage } from '../../storage/types.ts';
import { checkFolderSyntax } from './folder-syntax.ts';
import type { Handler } from './handler.ts';

/**
 * `download { path, offset?, prefixSha256? }`: `PARTIAL { size, mtime, offset }`, DATA within
 * credit, then `{ bytes, sha256 }` where the hash covers the whole file.
 *
 * Resuming: a client that has the first `offset` bytes sends their SHA-256. Only when the server's
 * first `offset` bytes hash the same does it continue from there (its hash seeded with them);
 * otherwise it answers `offset: 0` and sends the whole file. Appending blindly is never done.
 */
export const download: Handler<'download'> = {
  async run(request) {
    request.require('read');
    const path = request.path();
    await checkFolderSyntax(request, 'path', path);
    const askedOffset = optionalCount(request.args, 'offset') ?? 0;
    const prefixSha256 = askedOffset > 0 ? requireSha256(request.args, 'prefixSha256') : undefined;
    const { storage } = request;
    // reads of 1 MiB (at least one DATA frame), which the sender slices into frames: a trip
    // through the thread pool per MiB instead of one per frame (src/storage/file-chunks.ts)
    const highWaterMark = Math.max(request.limits.chunkSize, DEFAULT_READ_SIZE);

    let seed: Hash | undefined;
    let offset = 0;
    let checked: ReadHandle | undefined;
    if (prefixSha256 !== undefined) {
      const prefix = await hashFirstBytes(storage, path, askedOffset, highWaterMark);
      if (prefix && prefix.hash.copy().digest('hex') === prefixSha256) {
        seed = prefix.hash;
        offset = askedOffset;
        checked = prefix.handle;
      }
    }
    let handle = await storage.openRead(path, { offset, highWaterMark });
    if (checked && !sameVersion(checked, handle)) {
      // Replaced between the prefix check and this open: continuing would splice the old prefix
      // onto the new file, and both hashes would agree on it. Send the new file whole instead.
      handle.stream.destroy();
      seed = undefined;
      offset = 0;
      handle = await storage.openRead(path, { offset, highWaterMark });
    }
    const username = request.user.username;
    const meter = new ProgressMeter(
      { id: request.id, direction: 'download', path, totalBytes: handle.size, username },
      (progress) => request.metrics.emit('progress', progress),
      request.limits.progressInterval,
      offset,
      () => request.metrics.listenerCount('progress') > 0,
    );
    try {
      const partial = { size: handle.size, mtime: handle.mtime, offset };
      const sent = await request.send(handle.stream, { onChunk: (n) => meter.add(n), seedHash: seed, partial });
      meter.flush();
      const bytes = offset + sent.bytes;
      const ms = meter.elapsedMs;
      const mbps = megabytesPerSecond(sent.bytes, ms);
      request.metrics.emit('transfer', { id: request.id, direction: 'download', path, bytes, ms, mbps, sha256: sent.sha256, username });
      request.emit('download', { connection: request.connection, username, path, bytes, ms, mbps, sha256: sent.sha256 });
      return { bytes, sha256: sent.sha256 };
    } finally {
      handle.stream.destroy();
    }
  },
};

/** Did two opens see the same version of a file? */
function sameVersion(a: ReadHandle, b: ReadHandle): boolean {
  if (a.version !== undefined || b.version !== undefined) return a.version === b.version;
  return a.size === b.size && a.mtime === b.mtime;
}

/**
 * SHA-256 state after the first `count` bytes of the file, with the handle it was read from (its
 * version, size and mtime), or undefined if the file is shorter.
 */
async function hashFirstBytes(
  storage: Storage,
  path: string,
  count: number,
  highWaterMark: number,
): Promise<{ hash: Hash; handle: ReadHandle } | undefined> {
  const handle: ReadHandle = await storage.openRead(path, { offset: 0, highWaterMark });
  if (handle.size < count) {
    handle.stream.destroy();
    return undefined;
  }
  const hash = createHash('sha256');
  let left = count;
  try {
    for await (const chunk of handle.stream) {
      const buffer = chunk as Buffer;
      const part = buffer.length <= left ? buffer : buffer.subarray(0, left);
      hash.update(part);
      left -= part.length;
      if (left === 0) break;
    }
  } finally {
    handle.stream.destroy();
  }
  if (left !== 0) throw new FileShareError('EIO', `${path} changed while it was being read`);
  return { hash, handle };
}
