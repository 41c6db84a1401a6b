/**
 * An upload into a local folder: bytes go to a temporary file beside the target, which `commit()`
 * moves into place atomically (`rename(2)` to overwrite, `link(2)` to never clobber) and `abort()`
 * removes. Either way the temporary file never remains.
 * @internal
 * @module
 */
import { constants, createReadStream, promises as fsp, type WriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FileShareError } from '../errors.ts';
import { errnoCode, fsError, storageError } from './fs-errors.ts';
import type { UploadTarget } from './types.ts';

/** `highWaterMark` of the upload stream: 1 MiB, one protocol frame. @internal */
export const UPLOAD_HIGH_WATER_MARK = 1024 * 1024;

/** Errors of `link(2)` that mean "this filesystem has no hard links": fall back to a checked rename. */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/** What {@link LocalUpload} needs: all paths are real, absolute paths inside the storage root. @internal */
export interface LocalUploadInit {
  /** The temporary file, already created (`wx`, 0o644). The upload owns it from now on. */
  readonly handle: FileHandle;
  readonly temp: string;
  readonly target: string;
  /** The target's remote path, for error messages. */
  readonly remote: string;
  readonly overwrite: boolean;
  readonly fsync: boolean;
  /** Bytes already in the temporary file (a resumed upload); writing starts there. */
  readonly offset?: number;
  /** Keep the temporary file on `suspend()` for a later resume. */
  readonly resumable?: boolean;
  /** Called once the upload is over (committed, aborted or suspended): releases its lock. */
  readonly onSettled?: () => void;
  /** Modification time (ms since the epoch) to give the file before it moves into place. */
  readonly mtime?: number | undefined;
}

/** Remove a file; a missing file is fine. @internal */
export async function unlinkQuietly(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/** Flush a file's (or a folder's) data and metadata to disk. @internal */
export async function fsyncPath(file: string, flags: string): Promise<void> {
  const handle = await fsp.open(file, flags);
  try {
    await handle.sync();
  } catch (err) {
    // Some platforms and filesystems cannot fsync a folder: nothing more can be done there.
    const code = errnoCode(err);
    if (flags !== 'r' || (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF' && code !== 'EPERM')) throw err;
  } finally {
    await handle.close();
  }
}

/**
 * Set a file's modification time (and access time) through a descriptor opened without following
 * symbolic links: the temporary file is ours, and a link swapped in for it is refused (`ELOOP`).
 * Half a millisecond is added because utimes takes seconds as a double: `1700000000.123` lands a
 * few hundred ns below `.123`, which a reader truncating to whole ms would see as `.122`.
 * @internal
 */
export async function setMtime(file: string, mtimeMs: number): Promise<void> {
  const handle = await fsp.open(file, constants.O_WRONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const seconds = (Math.floor(mtimeMs) + 0.5) / 1000;
    await handle.utimes(seconds, seconds);
  } finally {
    await handle.close();
  }
}

/** Resolves once `stream` emitted `'close'` (at once if it already did). */
function closed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

/**
 * The {@link UploadTarget} of {@link LocalStorage}. Errors of `stream` are also reported by
 * `commit()`; the target keeps its own `'error'` listener so that an unobserved write error (a
 * full disk, say) cannot crash the process.
 * @internal
 */
export class LocalUpload implements UploadTarget {
  /** An `fs.WriteStream` on the temporary file (`highWaterMark` 1 MiB). */
  readonly stream: WriteStream;
  /** Bytes kept from an interrupted attempt (resumable uploads); 0 otherwise. */
  readonly offset: number;
  readonly #init: LocalUploadInit;
  #committing: Promise<void> | undefined;
  #aborting: Promise<void> | undefined;

  constructor(init: LocalUploadInit) {
    this.#init = init;
    this.offset = init.offset ?? 0;
    this.stream = init.handle.createWriteStream({ highWaterMark: UPLOAD_HIGH_WATER_MARK, start: this.offset });
    this.stream.on('error', () => {});
  }

  /** The bytes kept from an earlier attempt, to verify them by hash before resuming. */
  readExisting(): Readable {
    if (this.offset === 0) return Readable.from([]);
    return createReadStream(this.#init.temp, { start: 0, end: this.offset - 1, highWaterMark: UPLOAD_HIGH_WATER_MARK });
  }

  /**
   * Stop writing and keep what was written, for a later resume. Pending writes are flushed first, so
   * the file holds exactly a prefix of the upload. A non-resumable upload is aborted instead.
   */
  suspend(): Promise<void> {
    if (!this.#init.resumable) return this.abort();
    if (this.#committing) return this.#committing.then(() => {}, () => {});
    this.#aborting ??= this.#keep();
    return this.#aborting;
  }

  /**
   * Move the data into place. The stream must have been ended (`end()`); commit waits for it to
   * finish and close. Idempotent: later calls return the first call's promise. On failure the
   * temporary file is removed and the target is untouched.
   * @throws FileShareError `EEXIST` (target created meanwhile, no overwrite), `EISDIR`, `EINVAL`
   *   (stream not ended), `EABORTED` (after `abort()`), or the stream's own error.
   */
  commit(): Promise<void> {
    if (this.#aborting) return Promise.reject(new FileShareError('EABORTED', `the upload was aborted: ${this.#init.remote}`));
    this.#committing ??= this.#commit();
    return this.#committing;
  }

  /**
   * Throw the data away: destroy the stream, wait for it to close, remove the temporary file.
   * Works whether the stream finished, failed or is mid-write; safe to call more than once.
   * After a successful `commit()` it does nothing.
   */
  abort(): Promise<void> {
    if (this.#committing) return this.#committing.then(() => {}, () => {});
    this.#aborting ??= this.#discard();
    return this.#aborting;
  }

  async #commit(): Promise<void> {
    const { temp, target, remote, overwrite, fsync } = this.#init;
    try {
      await this.#finished();
      if (this.#init.mtime !== undefined) await setMtime(temp, this.#init.mtime);
      if (fsync) await fsyncPath(temp, 'r+');
      if (overwrite) await fsp.rename(temp, target);
      else await this.#linkIntoPlace();
      if (fsync) await fsyncPath(path.dirname(target), 'r');
    } catch (err) {
      await this.#discard().catch(() => {});
      throw fsError(err, remote);
    } finally {
      this.#init.onSettled?.();
    }
  }

  /** Flush and close, keeping the file. */
  async #keep(): Promise<void> {
    const stream = this.stream;
    try {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
      await closed(stream);
    } finally {
      this.#init.onSettled?.();
    }
  }

  /** Wait until the stream has written everything and closed its file. */
  async #finished(): Promise<void> {
    const stream = this.stream;
    if (stream.errored) throw stream.errored;
    if (!stream.writableEnded) {
      throw new FileShareError('EINVAL', `commit() before the upload stream was ended: ${this.#init.remote}`);
    }
    await closed(stream);
    if (stream.errored) throw stream.errored;
    if (!stream.writableFinished) throw new FileShareError('EIO', `the upload stream closed early: ${this.#init.remote}`);
  }

  /** `link(2)` never replaces an existing file: a target created meanwhile makes the commit fail. */
  async #linkIntoPlace(): Promise<void> {
    const { temp, target, remote } = this.#init;
    try {
      await fsp.link(temp, target);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') throw storageError('EEXIST', remote, undefined, err);
      if (code === undefined || !LINK_UNSUPPORTED.has(code)) throw err;
      // No hard links here: check, then rename (a small window remains on such filesystems).
      if (await exists(target)) throw storageError('EEXIST', remote);
      await fsp.rename(temp, target);
      return;
    }
    await unlinkQuietly(temp).catch(() => {});
  }

  async #discard(): Promise<void> {
    const stream = this.stream;
    try {
      if (!stream.destroyed) stream.destroy();
      await closed(stream);
      await unlinkQuietly(this.#init.temp);
    } finally {
      this.#init.onSettled?.();
    }
  }
}

/** Does anything (even a dangling symbolic link) exist at `file`? */
async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
