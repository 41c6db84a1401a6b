import { close as closeFd, fstatSync, open as openFd, read as readFd } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { RecyclingSource } from '../transport/recycling-source.ts';

/**
 * Most bytes of read chunks a process keeps for reuse, across all its streams: 16 of the default
 * 1 MiB chunks, about what a folder transfer's concurrent medium files have in flight at once.
 * @internal
 */
export const MAX_POOLED_BYTES = 16 * 1024 * 1024;
/** Pooled chunks are let go once none was taken for this long: an idle process holds no pool. @internal */
export const POOL_IDLE_MS = 1000;
/** A file's remainder below this is read into memory of its own size, not into a pooled chunk. */
const MIN_POOLED_READ = 64 * 1024;

/**
 * Read chunks handed back by any stream, for the next read of any stream. Per stream, reuse never
 * reached a file of one or two chunks: its last chunk comes back from the socket after the stream
 * has ended. On this kind of (virtual) machine the page faults of fresh memory are what a read
 * costs most (about 12 µs per 4 KiB page), and in a folder upload whose twenty 1 MiB files go
 * concurrently the client spent 5.3 ms of CPU per file reading into fresh chunks against 2.1 ms
 * into pooled ones (bench/README.md, eighteenth).
 */
class ChunkPool {
  /** Free chunks by size. */
  readonly #free = new Map<number, Buffer[]>();
  /** The memory of every chunk this pool made: nothing else is ever taken in. */
  readonly #made = new WeakSet<ArrayBufferLike>();
  /** The memory of the chunks now in {@link #free}: a chunk given back twice is pooled once. */
  readonly #pooled = new Set<ArrayBufferLike>();
  #bytes = 0;
  #takenSinceCheck = false;
  #idleTimer: NodeJS.Timeout | undefined;

  /** A chunk of exactly `size` bytes (its whole memory), reused when one is free. */
  take(size: number): Buffer {
    const chunk = this.#free.get(size)?.pop();
    if (chunk !== undefined) {
      this.#pooled.delete(chunk.buffer);
      this.#bytes -= size;
      this.#takenSinceCheck = true;
      return chunk;
    }
    const fresh = Buffer.allocUnsafeSlow(size);
    this.#made.add(fresh.buffer);
    return fresh;
  }

  /** `chunk` (one of ours, or a piece of one starting at its first byte) is no longer referenced. */
  give(chunk: Buffer): void {
    const memory = chunk.buffer;
    if (chunk.byteOffset !== 0 || !this.#made.has(memory) || this.#pooled.has(memory)) return;
    const size = memory.byteLength;
    if (this.#bytes + size > MAX_POOLED_BYTES) return;
    let free = this.#free.get(size);
    if (free === undefined) this.#free.set(size, (free = []));
    free.push(chunk.length === size ? chunk : Buffer.from(memory, 0, size));
    this.#pooled.add(memory);
    this.#bytes += size;
    if (this.#idleTimer === undefined) this.#armIdleCheck();
  }

  /** Bytes now held for reuse. */
  get bytes(): number {
    return this.#bytes;
  }

  #armIdleCheck(): void {
    this.#takenSinceCheck = false;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#takenSinceCheck) {
        this.#armIdleCheck();
        return;
      }
      this.#free.clear();
      this.#pooled.clear();
      this.#bytes = 0;
    }, POOL_IDLE_MS);
    this.#idleTimer.unref();
  }
}

const POOL = new ChunkPool();

/** Bytes of read chunks the process now keeps for reuse (at most {@link MAX_POOLED_BYTES}). @internal */
export function pooledChunkBytes(): number {
  return POOL.bytes;
}

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
 * the next read of this stream or any other fills it again (see ChunkPool above). A consumer that
 * never recycles gets chunks nobody else holds, as from `createReadStream`. The high-water mark is
 * one chunk, so `read()` always returns one whole chunk (never a concatenation of several), which
 * is what makes a chunk safe to give back.
 * @internal
 */
export class FileChunkStream extends Readable implements RecyclingSource {
  private fd: number | undefined;
  private position: number;
  private readonly last: number;
  /** Bytes per read: the size of every recycled chunk. */
  private readonly size: number;
  /** Where the data ends as far as known when the file was opened: reads stop only at EOF, but a short remainder gets only the memory it needs. */
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
    // a short remainder (a file's tail, or a file smaller than one read) gets memory of its own
    // size, so that a consumer that keeps it holds no more than the data; a longer one is read into
    // a whole chunk of the pool, which the sender gives back
    const expected = this.known - this.position;
    const chunk = expected >= size || expected >= MIN_POOLED_READ || expected <= 0 ? POOL.take(size) : Buffer.allocUnsafeSlow(expected);
    const want = Math.min(chunk.length, left);
    readFd(this.fd!, chunk, 0, want, this.position, (err, bytes) => {
      if (err) {
        POOL.give(chunk);
        this.destroy(err);
        return;
      }
      if (this.destroyed) {
        POOL.give(chunk);
        return;
      }
      if (bytes === 0) {
        POOL.give(chunk);
        this.push(null);
        return;
      }
      this.position += bytes;
      this.push(bytes === chunk.length ? chunk : chunk.subarray(0, bytes));
    });
  }

  /**
   * `chunk`, one this stream pushed, is no longer referenced by anyone: its memory goes to the
   * process's pool, also after this stream has ended. A chunk not read by a FileChunkStream is
   * ignored.
   */
  recycle(chunk: Buffer): void {
    POOL.give(chunk);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
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
