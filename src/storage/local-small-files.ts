/**
 * Small files of the local-folder backend, moved with synchronous fs calls.
 *
 * A 4 KiB upload through the thread pool makes five round trips (open, write, link, unlink,
 * close) and a 4 KiB read three (open, read, close); each is two thread hand-offs, and profiles of
 * small-file transfers found the hand-offs, not the calls, taking a quarter of the server's time
 * (bench/README.md). On a local filesystem each of these calls on a small file takes microseconds
 * against the page cache (creating the file is the dearest: 25 µs on tmpfs, 0.2-0.35 ms of kernel
 * time on this machine's ext4), so for files up to `LocalStorageOptions.smallFileBytes` they run
 * on the event loop. Two bounds keep any one turn short: the size cap, and a budget of
 * synchronous time per turn past which new small files create their file (uploads) or go whole
 * (reads) through the pool. A file of unknown or larger size, a resumed upload and an upload that
 * is fsync'd (a flush can take milliseconds) keep the pooled path.
 *
 * The guarantees are those of local-upload.ts and safe-open.ts, call for call: the temporary file
 * is created `O_CREAT | O_EXCL | O_NOFOLLOW` and its `/proc/self/fd` path checked under the root;
 * its one descriptor stays open until the upload is over; at commit the name must still be that
 * descriptor's inode, and `link(2)` (or `rename(2)` to overwrite) moves it into place, so nothing
 * ever appears under the target name before the data is complete.
 * @internal
 * @module
 */
import {
  closeSync,
  constants,
  fstatSync,
  futimesSync,
  linkSync,
  lstatSync,
  open,
  openSync,
  readlinkSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { FileShareError } from '../errors.ts';
import { errnoCode, fsError, storageError } from './fs-errors.ts';
import { fileVersion, isInside } from './local-helpers.ts';
import { CREATE_EXCLUSIVE, O_NOFOLLOW } from './safe-open.ts';
import { charged, syncBudgetLeft } from '../sync-budget.ts';
import type { ReadHandle, UploadTarget } from './types.ts';

/** Default of `LocalStorageOptions.smallFileBytes`: 64 KiB. @internal */
export const DEFAULT_SMALL_FILE_BYTES = 64 * 1024;
/** Largest `smallFileBytes` accepted: 1 MiB, a write of which still takes well under a millisecond. @internal */
export const MAX_SMALL_FILE_BYTES = 1024 * 1024;

/** Errors of `link(2)` that mean "this filesystem has no hard links" (as in local-upload.ts). */
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);
/** Never block opening something that is not a regular file (a FIFO planted under a name). */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/** Where descriptor `fd` really is (Linux), or undefined where that cannot be told. */
function descriptorPath(fd: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the descriptor is gone either way
  }
}

function unlinkQuietlySync(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/**
 * Create `file` exclusively and check it lies under `root`: `createInside` of safe-open.ts, made
 * synchronously. A file created outside (a folder above swapped for a link) is removed again.
 * @throws FileShareError `EACCES`, or the open's own error (raw: `EEXIST`, `ENOSPC`, ...)
 * @internal
 */
export function createInsideSync(root: string, file: string, remote: string): number {
  return checkCreated(openSync(file, CREATE_EXCLUSIVE, 0o644), root, remote);
}

/**
 * {@link createInsideSync} with the create itself on the thread pool: allocating an inode is the one
 * call of a small upload that is not a few microseconds everywhere (ext4 on a virtual disk here:
 * 0.2-0.35 ms of kernel time, against 10-20 µs for the write, link, unlink and close), and one
 * socket read can carry a dozen small uploads, so made inline it would hold the event loop for
 * milliseconds at a time.
 * @internal
 */
export async function createInsideFd(root: string, file: string, remote: string): Promise<number> {
  const fd = await new Promise<number>((resolve, reject) =>
    open(file, CREATE_EXCLUSIVE, 0o644, (err, opened) => (err ? reject(err) : resolve(opened))),
  );
  return checkCreated(fd, root, remote);
}

/**
 * The temporary file of a small upload: created inline while this turn's budget lasts (no pool
 * round trip, which is what a file sent on its own waits for), else on the pool.
 * @internal
 */
export function createSmallUploadFile(root: string, file: string, remote: string): Promise<number> | number {
  if (syncBudgetLeft()) return charged(() => createInsideSync(root, file, remote));
  return createInsideFd(root, file, remote);
}

/** The containment check of a newly created file's descriptor (see createInside in safe-open.ts). */
function checkCreated(fd: number, root: string, remote: string): number {
  const real = descriptorPath(fd);
  if (real !== undefined && !isInside(root, real)) {
    let made: { dev: number; ino: number } | undefined;
    try {
      made = fstatSync(fd);
    } catch {
      made = undefined;
    }
    closeQuietly(fd);
    if (made) {
      try {
        const there = lstatSync(real);
        if (there.isFile() && there.dev === made.dev && there.ino === made.ino) unlinkSync(real);
      } catch {
        // gone already
      }
    }
    throw storageError('EACCES', remote, 'a folder on its way leads outside the shared folder');
  }
  return fd;
}

/** What {@link SmallLocalUpload} needs; paths are real, absolute and inside the root. @internal */
export interface SmallUploadInit {
  /** The temporary file's descriptor, from {@link createInsideSync}; the upload owns it. */
  readonly fd: number;
  readonly temp: string;
  readonly target: string;
  /** The target's remote path, for error messages. */
  readonly remote: string;
  readonly overwrite: boolean;
  /** The announced size: at most `smallFileBytes`, and no more bytes are taken. */
  readonly size: number;
  /** Modification time (ms since the epoch) to give the file before it moves into place. */
  readonly mtime?: number | undefined;
  /** Called once the upload is over (committed or aborted). */
  readonly onSettled?: () => void;
}

/**
 * An {@link UploadTarget} for a small file of known size: every write, the commit and the abort are
 * synchronous calls. Never resumable (`suspend()` aborts). A write beyond the announced size fails
 * the stream with `EINTEGRITY` (the answer the pooled path gives once all the bytes are in), so
 * the cap on what one upload can make the event loop write holds whatever a client sends.
 * @internal
 */
export class SmallLocalUpload implements UploadTarget {
  /** Takes the data; each chunk is written at once with `writeSync`. */
  readonly stream: Writable;
  readonly offset = 0;
  readonly #init: SmallUploadInit;
  /** The open descriptor, until the upload is over. */
  #fd: number | undefined;
  #written = 0;
  #committing: Promise<void> | undefined;
  #aborting: Promise<void> | undefined;

  constructor(init: SmallUploadInit) {
    this.#init = init;
    this.#fd = init.fd;
    this.stream = new Writable({
      write: (chunk: Buffer, _encoding, callback) => callback(charged(() => this.#write(chunk))),
    });
    // an unobserved write error (a full disk) must not crash the process; commit() reports it
    this.stream.on('error', () => {});
  }

  /** Nothing is kept: a small upload always starts at byte 0. */
  readExisting(): Readable {
    return Readable.from([]);
  }

  /** Not resumable: the same as {@link SmallLocalUpload.abort}. */
  suspend(): Promise<void> {
    return this.abort();
  }

  /**
   * Move the data into place (as the pooled upload of local-upload.ts does): idempotent; on failure the
   * temporary file is removed and the target is untouched.
   * @throws FileShareError `EEXIST`, `EISDIR`, `EINVAL` (stream not ended), `EABORTED`, `EIO`, or the write's own error
   */
  commit(): Promise<void> {
    if (this.#aborting) return Promise.reject(new FileShareError('EABORTED', `the upload was aborted: ${this.#init.remote}`));
    this.#committing ??= this.#commit();
    return this.#committing;
  }

  /** Throw the data away: the temporary file is removed. Safe to call more than once; after a commit it does nothing. */
  abort(): Promise<void> {
    if (this.#committing)
      return this.#committing.then(
        () => {},
        () => {},
      );
    if (!this.#aborting) {
      try {
        charged(() => this.#discard());
        this.#aborting = Promise.resolve();
      } catch (err) {
        this.#aborting = Promise.reject(fsError(err, this.#init.remote));
      }
    }
    return this.#aborting;
  }

  /** One chunk: written whole at its place, or the error that fails the stream. */
  #write(chunk: Buffer): Error | null {
    const fd = this.#fd;
    if (fd === undefined) return new FileShareError('EABORTED', `the upload was aborted: ${this.#init.remote}`);
    if (this.#written + chunk.length > this.#init.size) {
      return new FileShareError('EINTEGRITY', `more than the announced ${this.#init.size} bytes arrived`);
    }
    try {
      for (let done = 0; done < chunk.length;) {
        done += writeSync(fd, chunk, done, chunk.length - done, this.#written + done);
      }
    } catch (err) {
      return err as Error;
    }
    this.#written += chunk.length;
    return null;
  }

  async #commit(): Promise<void> {
    const { remote } = this.#init;
    try {
      await this.#finished();
      charged(() => this.#commitSync());
    } catch (err) {
      try {
        charged(() => this.#discard());
      } catch {
        // the first error is the one to report
      }
      throw fsError(err, remote);
    } finally {
      this.#settled();
    }
  }

  /** The commit's calls: the modification time, the identity check, the link (or rename) into place. */
  #commitSync(): void {
    const { temp, target, remote, overwrite, mtime } = this.#init;
    const fd = this.#fd;
    if (fd === undefined) throw new FileShareError('EABORTED', `the upload was aborted: ${remote}`);
    if (mtime !== undefined) {
      // as setMtime in local-upload.ts: half a millisecond so that whole ms survive the double
      const seconds = (Math.floor(mtime) + 0.5) / 1000;
      futimesSync(fd, seconds, seconds);
    }
    // the name must still be our file, not a link or another file planted under it
    const identity = fstatSync(fd);
    const named = lstatSync(temp);
    if (!named.isFile() || named.dev !== identity.dev || named.ino !== identity.ino) {
      throw storageError('EIO', remote, 'its temporary file was replaced by another process');
    }
    if (overwrite) renameSync(temp, target);
    else this.#linkIntoPlace();
  }

  /** Wait until the stream has taken everything; its error, if any, is the upload's. */
  async #finished(): Promise<void> {
    const stream = this.stream;
    if (stream.errored) throw stream.errored;
    if (!stream.writableEnded) {
      throw new FileShareError('EINVAL', `commit() before the upload stream was ended: ${this.#init.remote}`);
    }
    if (!stream.writableFinished && !stream.destroyed) {
      await new Promise<void>((resolve) => {
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
    if (stream.errored) throw stream.errored;
    if (!stream.writableFinished) throw new FileShareError('EIO', `the upload stream closed early: ${this.#init.remote}`);
  }

  /** `link(2)` never replaces an existing file: a target created meanwhile makes the commit fail. */
  #linkIntoPlace(): void {
    const { temp, target, remote } = this.#init;
    try {
      linkSync(temp, target);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') throw storageError('EEXIST', remote, undefined, err);
      if (code === undefined || !LINK_UNSUPPORTED.has(code)) throw err;
      // no hard links here: check, then rename (a small window remains on such filesystems)
      if (lstatSync(target, { throwIfNoEntry: false })) throw storageError('EEXIST', remote);
      renameSync(temp, target);
      return;
    }
    try {
      unlinkQuietlySync(temp);
    } catch {
      // committed: a leftover temporary name is the sweeper's
    }
  }

  /** Remove the temporary file; the descriptor is closed by #settled. */
  #discard(): void {
    try {
      if (!this.stream.destroyed) this.stream.destroy();
      unlinkQuietlySync(this.#init.temp);
    } finally {
      this.#settled();
    }
  }

  /** The upload is over: close the descriptor (once) and let go of the claim on the name. */
  #settled(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    if (!this.stream.destroyed) this.stream.destroy();
    closeQuietly(fd);
    this.#init.onSettled?.();
  }
}

/**
 * Read a small file whole, synchronously: `openInside` + `fstat` + the read of
 * `LocalStorage.openRead`, with its checks and its errors. Resolves to undefined (the descriptor
 * closed again) when the opened file turns out larger than `maxBytes`, for the pooled path.
 * @throws FileShareError `EACCES` (a link, outside the root, not a regular file), `EISDIR`, `EINVAL` (offset beyond the size), or the open's own
 * @internal
 */
export function readSmallFile(
  root: string,
  file: string,
  remote: string,
  offset: number,
  maxBytes: number,
  highWaterMark: number,
): ReadHandle | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') throw storageError('EACCES', remote, 'a symbolic link was found in its place', err);
    throw fsError(err, remote);
  }
  try {
    const real = descriptorPath(fd);
    if (real !== undefined && !isInside(root, real)) throw storageError('EACCES', remote, 'it leads outside the shared folder');
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw storageError('EISDIR', remote);
    if (!stats.isFile()) throw storageError('EACCES', remote, 'not a regular file');
    const { size } = stats;
    if (offset > size) throw storageError('EINVAL', remote, `offset ${offset} is beyond the size ${size}`);
    if (size > maxBytes) return undefined;
    // at most `size - offset` bytes, as the pooled stream reads up to the size seen at open; a file
    // that shrank meanwhile gives what is there, and the receiver's byte count says it is short
    const data = Buffer.allocUnsafe(size - offset);
    let got = 0;
    while (got < data.length) {
      const n = readSync(fd, data, got, data.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    const bytes = got === data.length ? data : data.subarray(0, got);
    // chunks of at most `highWaterMark`, as the pooled stream gives them
    let at = 0;
    const stream = new Readable({
      highWaterMark,
      read() {
        if (at < bytes.length) {
          const end = Math.min(bytes.length, at + highWaterMark);
          this.push(at === 0 && end === bytes.length ? bytes : bytes.subarray(at, end));
          at = end;
        }
        if (at >= bytes.length) this.push(null);
      },
    });
    return { stream, size, mtime: Math.floor(stats.mtimeMs), version: fileVersion(stats) };
  } catch (err) {
    throw fsError(err, remote);
  } finally {
    closeQuietly(fd);
  }
}
