/**
 * Small downloads: the data held in memory, the file written once it is verified.
 *
 * A download whose announced size is at most {@link SMALL_DOWNLOAD_BYTES} (and that starts at byte
 * 0, not resumable) collects its DATA bodies in memory, hashing them as they come, with no sink
 * stream: a Writable per file (its state, events, write callbacks, end and destroy) was a large
 * share of the client's JavaScript per small file. Once the SHA-256 and size match the server's,
 * {@link writeSmallFile} creates the temporary file beside the target exclusively (`wx`), writes
 * it, gives it its mtime, and renames it into place. Inline, while this event-loop turn's budget of
 * synchronous file work lasts (the one the server's small files use, storage/local-small-files.ts),
 * which saves a thread-pool round trip per call; through the pool otherwise. A download that fails
 * or is cancelled before then has created no file at all.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { closeSync, futimesSync, openSync, promises as fsp, renameSync, unlinkSync, writeSync } from 'node:fs';
import { FileShareError } from '../errors.ts';
import { charged, syncBudgetLeft } from '../sync-budget.ts';
import { utimesSeconds } from './mtime.ts';

/** Largest announced size held in memory: 64 KiB, as the server's default `smallFileBytes`. @internal */
export const SMALL_DOWNLOAD_BYTES = 64 * 1024;

/** Should a download of `size` bytes from byte `offset` be held in memory? @internal */
export function wantsSmallReceiver(size: number | undefined, offset: number, resumable: boolean): size is number {
  return !resumable && offset === 0 && size !== undefined && size <= SMALL_DOWNLOAD_BYTES;
}

/**
 * The receiving half of a small download: DATA bodies kept and hashed. More bytes than announced
 * fail it (`EINTEGRITY`), so what it holds stays bounded whatever the server sends; more than the
 * window granted is a protocol violation (`EPROTO`, thrown: a connection error), as for a stream.
 * @internal
 */
export class SmallReceiver {
  readonly #chunks: Buffer[] = [];
  readonly #hash = createHash('sha256');
  #received = 0;
  #failed = false;
  #finishing = false;

  constructor(
    private readonly size: number,
    /** The client's window: the server's credit for the stream (never topped up: size < window). */
    private readonly window: number,
    private readonly onFailure: (error: FileShareError) => void,
    private readonly onChunk: (bytes: number) => void,
  ) {}

  /** One DATA body. @throws FileShareError `EPROTO` when the server exceeded its credit */
  push(body: Buffer): void {
    if (this.#received + body.length > this.window) {
      throw new FileShareError('EPROTO', `flow-control violation: ${this.#received + body.length} bytes sent, ${this.window} granted`);
    }
    this.#received += body.length;
    if (this.#failed) return;
    if (this.#received > this.size) {
      this.stop();
      this.onFailure(new FileShareError('EINTEGRITY', `more than the announced ${this.size} bytes arrived`));
      return;
    }
    this.#hash.update(body);
    this.#chunks.push(body);
    this.onChunk(body.length);
  }

  /** Bytes received so far. */
  get receivedBytes(): number {
    return this.#received;
  }

  /** True while the server has credit left and the download is neither finishing nor failed. */
  get awaitingData(): boolean {
    return !this.#failed && !this.#finishing && this.#received < this.window;
  }

  /** The bodies received, in order (for {@link writeSmallFile}, after {@link finish}). */
  get chunks(): readonly Buffer[] {
    return this.#chunks;
  }

  /** The totals of what was received: its size and SHA-256. */
  finish(): Promise<{ bytes: number; sha256: string }> {
    if (this.#failed) return Promise.reject(new FileShareError('EIO', 'stream already failed'));
    this.#finishing = true;
    return Promise.resolve({ bytes: this.#received, sha256: this.#hash.digest('hex') });
  }

  /** Stop keeping data (the download failed or was given up). */
  stop(): void {
    this.#failed = true;
    this.#chunks.length = 0;
  }
}

/**
 * Write verified data to `tempPath` (created exclusively), give it `mtimeMs` if set, and rename
 * it to `finalPath`; on any failure the temporary file is removed and nothing is at `finalPath`.
 * `expected` is the size the data must have on disk (what the writes report).
 * @internal
 */
export async function writeSmallFile(
  tempPath: string,
  finalPath: string,
  chunks: readonly Buffer[],
  expected: number,
  mtimeMs: number | undefined,
): Promise<void> {
  if (syncBudgetLeft()) return charged(() => writeSmallFileSync(tempPath, finalPath, chunks, expected, mtimeMs));
  const file = await fsp.open(tempPath, 'wx');
  let renamed = false;
  try {
    let written = 0;
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.length;) {
        const { bytesWritten } = await file.write(chunk, done, chunk.length - done, written);
        done += bytesWritten;
        written += bytesWritten;
      }
    }
    checkWritten(written, expected);
    if (mtimeMs !== undefined) await file.utimes(utimesSeconds(mtimeMs), utimesSeconds(mtimeMs));
    // Windows cannot rename a file that is still open
    if (process.platform === 'win32') await file.close();
    await fsp.rename(tempPath, finalPath);
    renamed = true;
  } finally {
    await file.close().catch(() => {});
    if (!renamed) await fsp.unlink(tempPath).catch(() => {});
  }
}

function writeSmallFileSync(
  tempPath: string,
  finalPath: string,
  chunks: readonly Buffer[],
  expected: number,
  mtimeMs: number | undefined,
): void {
  const fd = openSync(tempPath, 'wx');
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      closeSync(fd);
    } catch {
      // the descriptor is gone either way
    }
  };
  try {
    let written = 0;
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.length;) {
        const n = writeSync(fd, chunk, done, chunk.length - done, written);
        done += n;
        written += n;
      }
    }
    checkWritten(written, expected);
    if (mtimeMs !== undefined) futimesSync(fd, utimesSeconds(mtimeMs), utimesSeconds(mtimeMs));
    // Windows cannot rename a file that is still open
    if (process.platform === 'win32') close();
    renameSync(tempPath, finalPath);
  } catch (err) {
    close();
    try {
      unlinkSync(tempPath);
    } catch {
      // gone already
    }
    throw err;
  } finally {
    close();
  }
}

/** Defence in depth: the hash covers the bytes received, so also check what the writes reported. */
function checkWritten(written: number, expected: number): void {
  if (written !== expected) throw new FileShareError('EIO', `the local file has ${written} bytes, not the ${expected} received`);
}
