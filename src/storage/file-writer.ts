/**
 * The write side of an upload into a local file: a Writable that writes in pieces of at least
 * {@link DEFAULT_GATHER_BYTES}.
 * @internal
 * @module
 */
import { writev as writevFd } from 'node:fs';
import { Writable } from 'node:stream';

/**
 * Bytes an upload gathers before it writes them (the rest goes at the end). Each write is a round
 * trip through libuv's thread pool, and an upload's DATA arrives in the socket's 64 KiB reads:
 * `fs.WriteStream` writes whatever is queued each time its last write is done, so a 1 MiB file
 * took about ten writes. In an A/B on 1 MiB files (tmpfs, 2 cores; bench/README.md, sixteenth
 * section), gathering 256 KiB cut the server's CPU per file by about a tenth, and did as well as
 * gathering 1 MiB, which holds four times as much memory per upload.
 * @internal
 */
export const DEFAULT_GATHER_BYTES = 256 * 1024;

/**
 * How long gathered bytes wait for more before they are written anyway: a sender that stalls or
 * sends slowly still has its bytes in the file within this time. A sender at full speed fills
 * {@link DEFAULT_GATHER_BYTES} long before (256 KiB in 2.5 ms at 100 MB/s). Writing at the end of
 * every event-loop turn instead was measured too: a stream's data is spread over many turns, and
 * a 1 MiB file took five or six writes again, with nothing of the gain left.
 * @internal
 */
export const MAX_GATHER_MS = 10;

/** Options of a {@link FileWriter}. @internal */
export interface FileWriterOptions {
  /** An open descriptor, written at explicit positions; the writer never closes it. */
  readonly fd: number;
  /** Where the first byte goes (default 0). */
  readonly start?: number;
  /** Write once this many bytes are gathered (default {@link DEFAULT_GATHER_BYTES}). */
  readonly gatherBytes?: number;
  /** The stream's own buffer, beyond what is gathered (default 1 MiB). */
  readonly highWaterMark?: number;
}

/**
 * A Writable onto an open descriptor that writes in large pieces. Chunks are taken (their write
 * callbacks run) at once until `gatherBytes` have gathered; those are then written with one
 * `writev`, and the next piece gathers while that write runs: the chunk that completed a piece is
 * taken once the write before that piece is done. Bytes that wait longer than
 * {@link MAX_GATHER_MS} are written then, and the rest at the end. So the writer holds at most
 * twice `gatherBytes` that it has taken but not yet written (one piece in the file system, one
 * gathering), plus up to `highWaterMark` that it has not taken: a receiver that grants flow-control
 * credit on write callbacks lets at most that much more be in flight per upload than with
 * `fs.WriteStream`, whose callbacks wait for every write. Writes run one at a time, in order; a
 * failed one fails the stream at once, and nothing is written after it.
 *
 * `'finish'` means every byte is in the file. The descriptor is never closed here, and `'close'`
 * (after `destroy()`) comes only once no write is running any more, so its owner may close it then
 * without a write landing on a number that meanwhile belongs to another file.
 * @internal
 */
export class FileWriter extends Writable {
  readonly #fd: number;
  readonly #gatherBytes: number;
  #position: number;
  #gathered: Buffer[] = [];
  #gatheredBytes = 0;
  /** Settles (never rejects) once every write started so far is over: writes run one at a time. */
  #tail: Promise<void> = Promise.resolve();
  /** The first write that failed: nothing is written after it. */
  #failure: Error | undefined;
  /** Writes what is gathered once it has waited {@link MAX_GATHER_MS}. */
  #idleTimer: NodeJS.Timeout | undefined;
  /** Bytes written to the file so far. */
  bytesWritten = 0;

  constructor(options: FileWriterOptions) {
    super({ highWaterMark: options.highWaterMark ?? 1024 * 1024 });
    this.#fd = options.fd;
    this.#position = options.start ?? 0;
    this.#gatherBytes = Math.max(1, options.gatherBytes ?? DEFAULT_GATHER_BYTES);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#gather(chunk);
    this.#afterGather(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.#gather(chunk);
    this.#afterGather(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#flush().then(
      () => callback(this.#failure),
      (err: Error) => callback(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#gathered = [];
    this.#gatheredBytes = 0;
    clearTimeout(this.#idleTimer);
    void this.#tail.then(() => callback(error));
  }

  #gather(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#gathered.push(chunk);
    this.#gatheredBytes += chunk.length;
  }

  #afterGather(callback: (error?: Error | null) => void): void {
    if (this.#gatheredBytes >= this.#gatherBytes) {
      // the next piece gathers while this one is written: the two overlap, and the sender's credit
      // keeps coming while the file system works (bench/README.md, seventeenth section)
      const before = this.#tail;
      // a failed write fails the stream at once, even when no more data comes
      this.#flush().catch((err: Error) => this.destroy(err));
      void before.then(() => callback(this.#failure));
      return;
    }
    if (this.#failure) {
      callback(this.#failure);
      return;
    }
    callback();
    // a stalled or slow sender's bytes do not wait in memory for the next ones
    if (this.#gatheredBytes > 0 && this.#idleTimer === undefined) {
      // not unref'd: taken bytes are written even when nothing else keeps the process alive
      this.#idleTimer = setTimeout(this.#flushIdle, MAX_GATHER_MS);
    }
  }

  readonly #flushIdle = (): void => {
    this.#idleTimer = undefined;
    if (this.destroyed || this.#gatheredBytes === 0) return;
    this.#flush().catch((err: Error) => this.destroy(err));
  };

  /** Write what is gathered at its place, after the writes before it; a short write goes on where it stopped. */
  #flush(): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const buffers = this.#gathered;
    const bytes = this.#gatheredBytes;
    this.#gathered = [];
    this.#gatheredBytes = 0;
    if (bytes === 0) return this.#tail;
    const write = this.#tail.then(() => this.#writeAll(buffers, bytes));
    this.#tail = write.then(noop, noop);
    return write;
  }

  async #writeAll(buffers: Buffer[], bytes: number): Promise<void> {
    // after a failed write, nothing lands behind the hole it left
    if (this.#failure) throw this.#failure;
    try {
      for (let left = bytes; left > 0;) {
        const written = await writeAt(this.#fd, buffers, this.#position);
        this.#position += written;
        this.bytesWritten += written;
        left -= written;
        if (left > 0) buffers = withoutFirst(buffers, written);
      }
    } catch (err) {
      this.#failure ??= err as Error;
      throw err;
    }
  }
}

function noop(): void {}

function writeAt(fd: number, buffers: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    writevFd(fd, buffers, position, (err, written) => {
      if (err) reject(err);
      else if (written === 0) reject(Object.assign(new Error('the file took no bytes'), { code: 'EIO' }));
      else resolve(written);
    }),
  );
}

/** `buffers` without their first `skip` bytes. @internal */
export function withoutFirst(buffers: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    out.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return out;
}
