/**
 * An upload into a local folder: bytes go to a temporary file beside the target, which `commit()`
 * moves into place atomically (`rename(2)` to overwrite, `link(2)` to never clobber) and `abort()`
 * removes. Either way the temporary file never remains.
 * @internal
 * @module
 */
import { constants, futimesSync, promises as fsp } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FileShareError } from '../errors.ts';
import { errnoCode, fsError, storageError } from './fs-errors.ts';
import { type FileIdentity, openInside } from './safe-open.ts';
import { FileWriter } from './file-writer.ts';
import { fstat, lstat } from './local-lookup.ts';
import type { UploadTarget } from './types.ts';

/** `highWaterMark` of the upload stream: 1 MiB, one protocol frame. @internal */
export const UPLOAD_HIGH_WATER_MARK = 1024 * 1024;

/** Errors of `link(2)` that mean "this filesystem has no hard links": fall back to a checked rename. */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/** What {@link LocalUpload} needs: all paths are real, absolute paths inside the storage root. @internal */
export interface LocalUploadInit {
  /**
   * The temporary file, already created (`O_EXCL | O_NOFOLLOW`, 0o644) and checked to lie under
   * the root. The upload owns it from now on and holds it open until the upload is over (the write
   * stream never closes it): while it is open its inode cannot be freed and handed to a file
   * planted under the temporary name, which would then pass the identity check at commit. It is
   * also what `fsync` flushes and what the modification time is set through.
   */
  readonly handle: FileHandle;
  /** The storage root's real path: every file this upload opens again must lie under it. */
  readonly root: string;
  /**
   * Device and inode of `handle`: the name `temp` must still refer to it when it is moved into
   * place. Taken from `handle` at commit when not given (the descriptor names the same inode for
   * its whole life, so asking then is as good as asking at creation, and saves a call per upload).
   */
  readonly identity?: FileIdentity;
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

/** Flush a folder's entries to disk (after a rename into it). Opened read-only, without following a link, under `root`. @internal */
export async function fsyncFolder(root: string, folder: string, remote: string): Promise<void> {
  const handle = await openInside(root, folder, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0), remote);
  try {
    await handle.sync();
  } catch (err) {
    // Some platforms and filesystems cannot fsync a folder: nothing more can be done there.
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EBADF' && code !== 'EPERM') throw err;
  } finally {
    await handle.close();
  }
}

/**
 * Set a file's modification time (and access time) through the upload's own descriptor, never
 * by name: a link swapped in for the temporary file cannot redirect it.
 * Half a millisecond is added because utimes takes seconds as a double: `1700000000.123` lands a
 * few hundred ns below `.123`, which a reader truncating to whole ms would see as `.122`.
 * Synchronous, as the path lookups are (local-lookup.ts): it changes only the inode's times in
 * memory, and through the pool it cost every upload that keeps its mtime one more round trip.
 * @internal
 */
export async function setMtime(handle: FileHandle, mtimeMs: number): Promise<void> {
  const seconds = (Math.floor(mtimeMs) + 0.5) / 1000;
  futimesSync(handle.fd, seconds, seconds);
}

/** The temporary file is no longer the one this upload wrote: someone replaced it under its name. */
function replacedError(remote: string): FileShareError {
  return storageError('EIO', remote, 'its temporary file was replaced by another process');
}

/** Resolves once `stream` emitted `'close'` (at once if it already did). */
function closed(stream: Writable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

/** Resolves once `stream` has written everything (`'finish'`), failed or closed. */
function settled(stream: Writable): Promise<void> {
  if (stream.writableFinished || stream.errored || stream.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('finish', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('finish', done);
    stream.on('error', done);
    stream.on('close', done);
  });
}

/**
 * The {@link UploadTarget} of {@link LocalStorage}. Errors of `stream` are also reported by
 * `commit()`; the target keeps its own `'error'` listener so that an unobserved write error (a
 * full disk, say) cannot crash the process.
 * @internal
 */
export class LocalUpload implements UploadTarget {
  /** Writes the temporary file in pieces of 256 KiB or more ({@link FileWriter}); never closes its descriptor. */
  readonly stream: FileWriter;
  /** Bytes kept from an interrupted attempt (resumable uploads); 0 otherwise. */
  readonly offset: number;
  readonly #init: LocalUploadInit;
  #committing: Promise<void> | undefined;
  #aborting: Promise<void> | undefined;

  constructor(init: LocalUploadInit) {
    this.#init = init;
    this.offset = init.offset ?? 0;
    this.stream = new FileWriter({ fd: init.handle.fd, start: this.offset, highWaterMark: UPLOAD_HIGH_WATER_MARK });
    this.stream.on('error', () => {});
  }

  /**
   * The bytes kept from an earlier attempt, to verify them by hash before resuming. Read from the
   * descriptor that was checked when it was opened, never by name again.
   */
  readExisting(): Readable {
    const { handle } = this.#init;
    const end = this.offset;
    return Readable.from(
      (async function* () {
        for (let at = 0; at < end;) {
          const buffer = Buffer.allocUnsafe(Math.min(UPLOAD_HIGH_WATER_MARK, end - at));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
          if (bytesRead === 0) throw new FileShareError('EIO', 'the kept data of the upload is shorter than it was');
          at += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
      })(),
    );
  }

  /**
   * Stop writing and keep what was written, for a later resume. Pending writes are flushed first, so
   * the file holds exactly a prefix of the upload. A non-resumable upload is aborted instead.
   */
  suspend(): Promise<void> {
    if (!this.#init.resumable) return this.abort();
    if (this.#committing)
      return this.#committing.then(
        () => {},
        () => {},
      );
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
    if (this.#committing)
      return this.#committing.then(
        () => {},
        () => {},
      );
    this.#aborting ??= this.#discard();
    return this.#aborting;
  }

  async #commit(): Promise<void> {
    const { handle, temp, target, remote, overwrite, fsync, root } = this.#init;
    try {
      await this.#finished();
      if (this.#init.mtime !== undefined) await setMtime(handle, this.#init.mtime);
      if (fsync) await handle.sync();
      // rename(2) and link(2) move whatever the name holds now: it must still be our file, not a
      // link or another file planted under it (which would then appear under the target name)
      const identity = this.#init.identity ?? (await fstat(handle));
      const named = await lstat(temp);
      if (!named.isFile() || named.dev !== identity.dev || named.ino !== identity.ino) throw replacedError(remote);
      if (overwrite) await fsp.rename(temp, target);
      else await this.#linkIntoPlace();
      if (fsync) await fsyncFolder(root, path.dirname(target), remote);
    } catch (err) {
      await this.#discard().catch(() => {});
      throw fsError(err, remote);
    } finally {
      this.#settled();
    }
  }

  /** Flush and stop writing, keeping the file. */
  async #keep(): Promise<void> {
    const stream = this.stream;
    try {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
      await settled(stream);
    } finally {
      this.#settled();
    }
  }

  /** Wait until the stream has written everything (the descriptor stays open). */
  async #finished(): Promise<void> {
    const stream = this.stream;
    if (stream.errored) throw stream.errored;
    if (!stream.writableEnded) {
      throw new FileShareError('EINVAL', `commit() before the upload stream was ended: ${this.#init.remote}`);
    }
    await settled(stream);
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

  /**
   * The upload is over: let go of the descriptor and of the lock. The close is not awaited: the
   * data is where it belongs (or gone) already, and a pending write finishes before the stream
   * gives the descriptor up.
   */
  #settled(): void {
    // the descriptor is closed only once the stream has closed, that is once no write of it runs
    // in the thread pool any more: such a write would land on whatever file reuses the number
    if (!this.stream.destroyed) this.stream.destroy();
    const handle = this.#init.handle;
    void closed(this.stream).then(() => handle.close().catch(() => {}));
    this.#init.onSettled?.();
  }

  async #discard(): Promise<void> {
    const stream = this.stream;
    try {
      if (!stream.destroyed) stream.destroy();
      await closed(stream);
      await unlinkQuietly(this.#init.temp);
    } finally {
      this.#settled();
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
