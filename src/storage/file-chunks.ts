import { close as closeFd, fstatSync, open as openFd, read as readFd } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { RecyclingSource } from '../transport/recycling-source.ts';

/** Chunks kept for reuse per stream: reads run at most one chunk ahead of the socket. */
const MAX_FREE = 4;

/**
 * Bytes per read unless a stream asks for more: each read is a trip through libuv's thread pool
 * and a `'readable'` turn of the stream, and the sender slices a chunk into DATA frames of the
 * connection's own size anyway. In an A/B on 256 MiB (tmpfs, 2 cores), 1 MiB reads instead of
 * 256 KiB ones cut the sender's CPU by 0.2-0.3 ms per MiB (bench/README.md, 2026-12-02 (sixth)).
 * @internal
 */
export const DEFAULT_READ_SIZE = 1024 * 1024;

/** Options of a {@link FileChunkStream}: exactly one of `path` and `handle`. @internal */
export interface FileChunkStreamOptions {
  /** Open this file (read-only). */
  readonly path?: string;
  /** Read from this open file; closed when the stream ends or is destroyed. */
  readonly handle?: FileHandle;
  /** First byte to read (default 0). */
  readonly start?: number;
  /** Last byte to read, inclusive (default: to the end of the file). */
  readonly end?: number;
  /** The DATA size the chunks are sent in: reads are at least this large. */
  readonly chunkSize: number;
  /** Bytes per read, and per chunk (default: {@link DEFAULT_READ_SIZE}, at least `chunkSize`). */
  readonly readSize?: number;
}

/**
 * A file read in chunks of `readSize`, like `fs.createReadStream`, but the chunks are recycled:
 * `createReadStream` reads every chunk into newly allocated memory, and on this kind of (virtual)
 * machine the page faults and zeroing of fresh memory cost more than the read itself (256 MiB in
 * 256 KiB reads from tmpfs: about 2 ms of CPU per MiB into fresh buffers, 0.4 ms into reused
 * ones). The sender hands each chunk back ({@link recycle}) once the socket has written it, and
 * the next read fills it again. A consumer that never recycles gets fresh chunks, as from
 * `createReadStream`. The high-water mark is one chunk, so `read()` always returns one whole chunk
 * (never a concatenation of several), which is what makes a chunk safe to give back.
 * @internal
 */
export class FileChunkStream extends Readable implements RecyclingSource {
  private fd: number | undefined;
  private position: number;
  private readonly last: number;
  private readonly free: Buffer[] = [];
  /** Bytes per read: the size of every recycled chunk. */
  private readonly size: number;
  /** Where the data ends as far as known when the file was opened: reads stop only at EOF, but no read gets more memory than this leaves. */
  private known = Number.POSITIVE_INFINITY;

  constructor(private readonly options: FileChunkStreamOptions) {
    const size = options.readSize ?? Math.max(options.chunkSize, DEFAULT_READ_SIZE);
    super({ highWaterMark: size });
    this.size = size;
    if ((options.path === undefined) === (options.handle === undefined)) {
      throw new TypeError('FileChunkStream: give exactly one of path and handle');
    }
    if (!Number.isInteger(options.chunkSize) || options.chunkSize < 1) throw new RangeError('FileChunkStream: bad chunkSize');
    if (!Number.isInteger(size) || size < 1) throw new RangeError('FileChunkStream: bad readSize');
    this.position = options.start ?? 0;
    this.last = options.end ?? Number.POSITIVE_INFINITY;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    if (this.options.handle !== undefined) {
      this.opened(this.options.handle.fd, callback);
      return;
    }
    openFd(this.options.path!, 'r', (err, fd) => {
      if (err) return callback(err);
      this.opened(fd, callback);
    });
  }

  private opened(fd: number, callback: (error?: Error | null) => void): void {
    this.fd = fd;
    this.known = this.last + 1;
    if (this.options.end === undefined) {
      // the size, for the memory of the last read only: an fstat of an open descriptor is answered
      // from the inode at once, synchronous as the other lookups are (docs/storage.md)
      try {
        this.known = fstatSync(fd).size;
      } catch (err) {
        callback(err as Error);
        return;
      }
    }
    callback();
  }

  override _read(): void {
    const left = this.last + 1 - this.position;
    if (left <= 0) {
      this.push(null);
      return;
    }
    const size = this.size;
    // a file's short tail (or a file smaller than one read) gets memory of its own size, not a
    // whole chunk: it is read once and never recycled
    const expected = this.known - this.position;
    const chunk = this.free.pop() ?? Buffer.allocUnsafeSlow(expected > 0 ? Math.min(size, expected) : size);
    const want = Math.min(chunk.length, left);
    readFd(this.fd!, chunk, 0, want, this.position, (err, bytes) => {
      if (err) {
        this.destroy(err);
        return;
      }
      if (this.destroyed) return;
      if (bytes === 0) {
        if (this.free.length < MAX_FREE) this.free.push(chunk);
        this.push(null);
        return;
      }
      this.position += bytes;
      this.push(bytes === chunk.length ? chunk : chunk.subarray(0, bytes));
    });
  }

  recycle(chunk: Buffer): void {
    // only whole chunks of ours: a short last read or a slice is left to the garbage collector
    if (this.destroyed || chunk.length !== this.size || chunk.byteOffset !== 0) return;
    if (chunk.buffer.byteLength !== this.size || this.free.length >= MAX_FREE) return;
    this.free.push(chunk);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.free.length = 0;
    const fd = this.fd;
    this.fd = undefined;
    if (this.options.handle !== undefined) {
      this.options.handle.close().then(
        () => callback(error),
        (closeError: unknown) => callback(error ?? (closeError as Error)),
      );
      return;
    }
    if (fd === undefined) {
      callback(error);
      return;
    }
    closeFd(fd, (closeError) => callback(error ?? closeError));
  }
}
