/**
 * The temporary file of a small download, written with synchronous calls.
 *
 * Through the thread pool a 4 KiB download costs the client four round trips (open, write, close,
 * rename), each two thread hand-offs; the calls themselves take microseconds on a local disk. So a
 * download whose announced size is at most {@link SMALL_DOWNLOAD_BYTES} writes its temporary file
 * inline, while this event-loop turn's budget of synchronous file work lasts (the one the server's
 * small files use, storage/local-small-files.ts); the rest, and every resumable download, keep the
 * pooled write stream. What is kept: the temporary name beside the target, created exclusively
 * (`wx`), renamed into place only after the SHA-256 matched, removed on failure.
 * @internal
 * @module
 */
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { FileShareError } from '../errors.ts';
import { charged, syncBudgetLeft } from '../sync-budget.ts';
import { setDescriptorMtime } from './mtime.ts';

/** Largest announced size written inline: 64 KiB, as the server's default `smallFileBytes`. @internal */
export const SMALL_DOWNLOAD_BYTES = 64 * 1024;

/** Should a download of `size` bytes from byte `offset` take the inline path now? @internal */
export function wantsSmallSink(size: number | undefined, offset: number, resumable: boolean): boolean {
  return !resumable && offset === 0 && size !== undefined && size <= SMALL_DOWNLOAD_BYTES && syncBudgetLeft();
}

/**
 * A temporary file created at once (`wx`), its writes made inline; more bytes than announced fail
 * the stream (`EINTEGRITY`), so the inline work stays bounded whatever the server sends.
 * @internal
 */
export class SmallFileSink {
  readonly stream: Writable;
  #fd: number | undefined;
  #written = 0;

  /**
   * The file is created here (within this turn's budget: {@link wantsSmallSink}), without a
   * construct step, which cost each file a tick and held its first write until then. A failure to
   * create it (`EEXIST`, `EACCES`, `ENOENT`, ...) is the stream's `'error'`, as with a write stream:
   * `destroy` emits it on a later tick, when the stream's consumer listens.
   */
  constructor(
    private readonly tempPath: string,
    private readonly size: number,
  ) {
    this.stream = new Writable({ write: (chunk: Buffer, _encoding, callback) => callback(charged(() => this.#write(chunk))) });
    try {
      this.#fd = charged(() => openSync(tempPath, 'wx'));
    } catch (err) {
      this.stream.destroy(err as Error);
    }
  }

  /** Bytes written to the file. */
  get bytesWritten(): number {
    return this.#written;
  }

  #write(chunk: Buffer): Error | null {
    const fd = this.#fd;
    if (fd === undefined) return new FileShareError('EABORTED', 'the download was stopped');
    if (this.#written + chunk.length > this.size) {
      return new FileShareError('EINTEGRITY', `more than the announced ${this.size} bytes arrived`);
    }
    try {
      for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done, chunk.length - done, this.#written + done);
    } catch (err) {
      return err as Error;
    }
    this.#written += chunk.length;
    return null;
  }

  /** Give the file its mtime (through the descriptor), move it to `finalPath`, close it. */
  async commit(finalPath: string, mtimeMs: number | undefined): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) throw new FileShareError('EABORTED', 'the download was stopped');
    if (mtimeMs !== undefined) await setDescriptorMtime(fd, mtimeMs);
    charged(() => {
      // Windows cannot rename a file that is still open
      if (process.platform === 'win32') this.#close();
      renameSync(this.tempPath, finalPath);
      this.#close();
    });
  }

  /** Close and remove the temporary file; quiet, safe to repeat. */
  abort(): void {
    charged(() => {
      this.#close();
      try {
        unlinkSync(this.tempPath);
      } catch {
        // gone already, or never made
      }
    });
  }

  #close(): void {
    if (!this.stream.destroyed) this.stream.destroy();
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // the descriptor is gone either way
    }
  }
}
