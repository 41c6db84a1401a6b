/**
 * The default {@link Storage}: a folder on the server's disk.
 *
 * Safety: a remote path `/x/y` maps to `<real root>/x/y`, and before any operation the path is
 * resolved through symbolic links with `realpath`: an existing path must resolve inside the real
 * root (the root itself included), a path about to be created must have its parent folder resolve
 * inside it. Otherwise the operation fails with `EACCES`. Symbolic links that stay inside the root
 * are followed. Error messages name remote paths only, never the server's own paths.
 *
 * Files are opened with `O_NOFOLLOW` (the backend's own files created with `O_EXCL` too) and, on
 * Linux, the descriptor's real path is checked to lie under the root before a byte moves
 * (safe-open.ts). Limits: Node has no `openat2(RESOLVE_BENEATH)` and no `*at()` calls, so the other
 * calls (mkdir, rename, unlink, readdir...) are checked and then made by path: a local process
 * swapping a folder for a link in between could redirect them (docs/security.md lists what).
 * @module
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FileShareError } from '../errors.ts';
import { errnoCode, fsError, isMissing, storageError } from './fs-errors.ts';
import { byName, checkCount, entryOf, fileVersion, isInside, sizeOf, STAT_BATCH } from './local-helpers.ts';
import { LocalUpload, unlinkQuietly } from './local-upload.ts';
import { normalizeRemotePath, remoteBasename, remoteComponents, remoteDirname } from './remote-path.ts';
import { isTempName, makeTempName } from './temp-names.ts';
import { HashCache, hashStoredFile } from './file-hash.ts';
import { ACTIVE_UPLOADS, openResumable, sweepLeftovers } from './local-leftovers.ts';
import { createInside, openInside } from './safe-open.ts';
import * as lookup from './local-lookup.ts';
import type { Entry, OpenUploadOptions, ReadHandle, Storage, SweepOptions, UploadTarget } from './types.ts';
import type { FileHandle } from 'node:fs/promises';
import { FileChunkStream } from './file-chunks.ts';
import {
  createSmallUploadFile,
  DEFAULT_SMALL_FILE_BYTES,
  MAX_SMALL_FILE_BYTES,
  readSmallFile,
  SmallLocalUpload,
} from './local-small-files.ts';
import { charged, syncBudgetLeft } from '../sync-budget.ts';

/** Options of {@link LocalStorage}. */
export interface LocalStorageOptions {
  /**
   * On commit, flush the uploaded file and then its folder to disk (`fsync`), so a committed
   * upload survives a power loss. Slower.
   * @default false
   */
  readonly fsync?: boolean;
  /**
   * Files up to this many bytes are moved with synchronous fs calls on the event loop instead of
   * the thread pool: uploads of an announced size up to it (not resumed, and only without `fsync`)
   * are created, written and linked into place that way, and reads of files up to it are read
   * whole. Each call then costs microseconds of the event loop instead of a round trip through the
   * pool, which for small files is most of their cost (docs/storage.md). The same checks and
   * guarantees apply (atomic commit, `O_NOFOLLOW`, the containment check, the same errors). Keep it
   * small: a larger value lets one file hold the event loop longer, and on a filesystem whose calls
   * can stall (a network mount) use 0. At most 1 MiB.
   * @default 65536 (64 KiB); 0 turns it off
   */
  readonly smallFileBytes?: number;
}

/** A modification time to set: finite, not before the epoch. */
function checkMtime(mtime: number, remote: string): number {
  if (typeof mtime !== 'number' || !Number.isFinite(mtime) || mtime < 0)
    throw storageError('EINVAL', remote, 'mtime must be a time in ms since the epoch');
  return mtime;
}

/** Default `highWaterMark` of {@link LocalStorage.openRead} streams: 256 KiB. */
export const DEFAULT_READ_HIGH_WATER_MARK = 256 * 1024;

/** A path about to be created or replaced: its real parent, and what is there now, if anything. */
interface Slot {
  readonly remote: string;
  /** Real path of the parent folder (inside the root). */
  readonly parent: string;
  /** `<parent>/<basename>`: the entry itself, not followed. */
  readonly abs: string;
  /** `lstat` of `abs`, or null if nothing is there. */
  readonly link: Stats | null;
  /** Where `abs` leads (itself unless it is a symbolic link), or null if nothing is there. */
  readonly real: string | null;
  /** `stat` of `real`, or null. */
  readonly stats: Stats | null;
}

/**
 * A {@link Storage} in a local folder, with atomic uploads (temporary file beside the target,
 * moved into place by `rename(2)` or `link(2)`) and containment checks against symbolic links.
 *
 * @example
 * ```ts
 * const storage = new LocalStorage('/srv/fileshare');
 * const home = await storage.scope('/alice'); // created if missing; '/' of `home` is /srv/fileshare/alice
 * const upload = await home.openUpload('/notes.txt', { overwrite: false });
 * upload.stream.end('hello');
 * await upload.commit();
 * ```
 */
export class LocalStorage implements Storage {
  readonly #root: string;
  readonly #fsync: boolean;
  readonly #smallFileBytes: number;
  #rootReal: Promise<string> | undefined;
  /** SHA-256 by file version, shared with the scopes made from this storage. */
  #hashes = new HashCache();

  /**
   * @param root - the folder to share; it must exist. Symbolic links in it are resolved once.
   * @param options - see {@link LocalStorageOptions}
   * @throws TypeError for an empty root or an invalid option
   */
  constructor(root: string, options: LocalStorageOptions = {}) {
    if (typeof root !== 'string' || root.length === 0 || root.includes('\0')) {
      throw new TypeError(`LocalStorage: root must be a non-empty path, got ${JSON.stringify(root)}`);
    }
    if (options.fsync !== undefined && typeof options.fsync !== 'boolean') {
      throw new TypeError(`LocalStorage: options.fsync must be a boolean, got ${JSON.stringify(options.fsync)}`);
    }
    const small = options.smallFileBytes;
    if (small !== undefined && (!Number.isSafeInteger(small) || small < 0 || small > MAX_SMALL_FILE_BYTES)) {
      throw new TypeError(
        `LocalStorage: options.smallFileBytes must be an integer from 0 to ${MAX_SMALL_FILE_BYTES}, got ${String(small)}`,
      );
    }
    this.#root = path.resolve(root);
    this.#fsync = options.fsync ?? false;
    this.#smallFileBytes = small ?? DEFAULT_SMALL_FILE_BYTES;
  }

  /**
   * A storage rooted at the folder `remotePath` of this one (a user's home), created if missing.
   * The new storage is rooted at the folder's real path; nothing outside it is reachable from it.
   */
  async scope(remotePath: string): Promise<LocalStorage> {
    const remote = normalizeRemotePath(remotePath);
    await this.mkdir(remote, { recursive: true });
    const real = await this.#real(remote);
    const storage = new LocalStorage(real, { fsync: this.#fsync, smallFileBytes: this.#smallFileBytes });
    storage.#rootReal = Promise.resolve(real);
    storage.#hashes = this.#hashes;
    return storage;
  }

  /** Metadata of a file or folder. A symbolic link reports what it leads to, under its own name. */
  async stat(remotePath: string): Promise<Entry> {
    const remote = normalizeRemotePath(remotePath);
    const real = await this.#real(remote);
    const stats = await this.#fs(remote, () => lookup.lstat(real));
    if (!stats.isFile() && !stats.isDirectory()) throw storageError('EACCES', remote, 'not a regular file or folder');
    return entryOf(remoteBasename(remote), stats);
  }

  /**
   * The entries of a folder, sorted by name, internal temporary files excluded. Entries other than
   * files and folders are skipped; a symbolic link is listed as what it leads to when that is
   * inside the root, and skipped otherwise.
   */
  async list(remotePath: string): Promise<Entry[]> {
    const remote = normalizeRemotePath(remotePath);
    const real = await this.#real(remote);
    const dirents = await this.#fs(remote, () => fsp.readdir(real, { withFileTypes: true }));
    const root = await this.#rootPath();
    // the entries' lookups are synchronous (local-lookup.ts: the folder was just read, so the kernel
    // answers from its caches), a batch per turn of the event loop so that a huge folder does not hold it
    const entries: Entry[] = [];
    for (let i = 0; i < dirents.length; i += STAT_BATCH) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const d of dirents.slice(i, i + STAT_BATCH)) {
        if (isTempName(d.name)) continue;
        const child = path.join(real, d.name);
        try {
          if (d.isFile() || d.isDirectory()) {
            entries.push(entryOf(d.name, await lookup.lstat(child)));
            continue;
          }
          if (!d.isSymbolicLink()) continue;
          const target = await lookup.realpath(child);
          if (!isInside(root, target)) continue;
          const stats = await lookup.lstat(target);
          if (stats.isFile() || stats.isDirectory()) entries.push(entryOf(d.name, stats));
        } catch {
          // removed meanwhile, or a dangling or looping link
        }
      }
    }
    return entries.sort(byName);
  }

  /**
   * Create a folder; with `recursive`, its parents too, and no error if it exists.
   * @throws FileShareError `EEXIST` (unless recursive), `ENOENT` (parent missing, not recursive),
   *   `ENOTDIR` (a parent is a file), `EACCES` (outside the root)
   */
  async mkdir(remotePath: string, options: { recursive?: boolean } = {}): Promise<void> {
    const remote = normalizeRemotePath(remotePath);
    if (options.recursive) return this.#mkdirp(remote);
    if (remote === '/') throw storageError('EEXIST', remote);
    const slot = await this.#slot(remote);
    if (slot.link) throw storageError('EEXIST', remote);
    await this.#fs(remote, () => fsp.mkdir(slot.abs));
  }

  /**
   * Remove a folder; with `recursive`, its contents too. A symbolic link to a folder is removed itself, not what it leads to.
   * Internal temporary files count as content.
   * @throws FileShareError `ENOTDIR`, `ENOTEMPTY` (unless recursive), `EACCES` for `/`, `ENOENT`
   */
  async rmdir(remotePath: string, options: { recursive?: boolean } = {}): Promise<void> {
    const remote = normalizeRemotePath(remotePath);
    if (remote === '/') throw storageError('EACCES', remote, 'the root cannot be removed');
    const slot = await this.#existing(remote);
    if (!slot.stats.isDirectory()) throw storageError('ENOTDIR', remote);
    if (slot.link.isSymbolicLink()) return this.#fs(remote, () => fsp.unlink(slot.abs));
    if (options.recursive) return this.#fs(remote, () => fsp.rm(slot.abs, { recursive: true }));
    await this.#fs(remote, () => fsp.rmdir(slot.abs), { EEXIST: 'ENOTEMPTY' });
  }

  /**
   * Delete a file. A symbolic link is removed itself, not what it leads to.
   * @throws FileShareError `EISDIR` for a folder, `ENOENT`, `EACCES`
   */
  async delete(remotePath: string): Promise<void> {
    const remote = normalizeRemotePath(remotePath);
    if (remote === '/') throw storageError('EISDIR', remote);
    const slot = await this.#existing(remote);
    if (slot.stats.isDirectory()) throw storageError('EISDIR', remote);
    if (!slot.stats.isFile()) throw storageError('EACCES', remote, 'not a regular file');
    await this.#fs(remote, () => fsp.unlink(slot.abs));
  }

  /**
   * Rename or move a file or folder; never overwrites. Files are moved with `link(2)` + `unlink(2)`, so an existing
   * destination is never replaced, even one created concurrently; folders (and symbolic links, which
   * are moved themselves) with a checked `rename(2)`.
   * @throws FileShareError `EEXIST`, `ENOENT`, `EINVAL` (moving `/`, or a folder into itself), `EACCES`
   */
  async rename(fromPath: string, toPath: string): Promise<void> {
    const from = normalizeRemotePath(fromPath);
    const to = normalizeRemotePath(toPath);
    if (from === '/') throw storageError('EINVAL', from, 'the root cannot be renamed');
    if (to.startsWith(`${from}/`)) throw storageError('EINVAL', to, `cannot move ${from} into itself`);
    const src = await this.#existing(from);
    if (to === '/') throw storageError('EEXIST', to);
    const dst = await this.#slot(to);
    if (dst.link) throw storageError('EEXIST', to);
    if (src.link.isDirectory() && isInside(src.abs, dst.parent)) {
      throw storageError('EINVAL', to, `cannot move ${from} into itself`);
    }
    if (src.link.isFile()) return this.#moveFile(src.abs, dst.abs, from, to);
    if (src.link.isSymbolicLink()) await this.#checkLinkMove(src.abs, dst.parent, from);
    await this.#checkedRename(src.abs, dst.abs, to);
  }

  /**
   * SHA-256 (hex) of a file. Cached per file version (device, inode, size, mtime in ns) for this
   * storage and its scopes, so an unchanged file is read once; a changed one is hashed again.
   * @throws FileShareError as {@link LocalStorage.openRead}
   */
  sha256(remotePath: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return hashStoredFile(this, remotePath, this.#hashes, options.signal);
  }

  /**
   * Open a file for reading from `offset`. The stream reads from a file descriptor opened before this
   * resolves, up to the size reported here. Consume or destroy it: it holds the descriptor.
   * @param options - `offset` (default 0, at most the size), `highWaterMark` (default 256 KiB)
   * @throws FileShareError `EISDIR`, `ENOENT`, `EACCES`, `EINVAL` (bad offset)
   */
  async openRead(remotePath: string, options: { offset?: number; highWaterMark?: number } = {}): Promise<ReadHandle> {
    const remote = normalizeRemotePath(remotePath);
    const offset = checkCount(options.offset ?? 0, 'offset', remote, 0);
    const highWaterMark = checkCount(options.highWaterMark ?? DEFAULT_READ_HIGH_WATER_MARK, 'highWaterMark', remote, 1);
    const real = await this.#real(remote);
    const pre = await this.#fs(remote, () => lookup.lstat(real));
    if (pre.isDirectory()) throw storageError('EISDIR', remote);
    if (!pre.isFile()) throw storageError('EACCES', remote, 'not a regular file'); // never open a FIFO or a device
    const root = await this.#rootPath();
    if (this.#smallFileBytes > 0 && pre.size <= this.#smallFileBytes && syncBudgetLeft()) {
      const whole = charged(() => readSmallFile(root, real, remote, offset, this.#smallFileBytes, highWaterMark));
      if (whole) return whole;
      // it grew past the threshold since the lstat: the pooled path below reads it
    }
    const handle = await this.#fs(remote, () => openInside(root, real, constants.O_RDONLY, remote));
    let stats: Stats;
    try {
      stats = await lookup.fstat(handle);
      if (stats.isDirectory()) throw storageError('EISDIR', remote);
      if (!stats.isFile()) throw storageError('EACCES', remote, 'not a regular file');
      if (offset > stats.size) throw storageError('EINVAL', remote, `offset ${offset} is beyond the size ${stats.size}`);
    } catch (err) {
      await handle.close();
      throw fsError(err, remote);
    }
    const { size } = stats;
    const mtime = Math.floor(stats.mtimeMs);
    const version = fileVersion(stats);
    if (offset === size) {
      await handle.close();
      return {
        stream: new Readable({
          read() {
            this.push(null);
          },
        }),
        size,
        mtime,
        version,
      };
    }
    return {
      stream: new FileChunkStream({ handle, start: offset, end: size - 1, chunkSize: highWaterMark, readSize: highWaterMark }),
      size,
      mtime,
      version,
    };
  }

  /**
   * Start an atomic upload: nothing is visible under the path until `commit()`. The data goes to
   * a temporary file beside the target (named with `TEMP_PREFIX`); a symbolic link to a file
   * inside the root is followed.
   * @throws FileShareError `EISDIR` (target is a folder), `EEXIST` (exists, no overwrite; checked
   *   again at commit), `ENOENT` / `ENOTDIR` (parent missing / a file), `EACCES`, `ENOSPC` (the
   *   announced `size` exceeds the free space), `EINVAL` (bad size)
   */
  async openUpload(remotePath: string, options: OpenUploadOptions = {}): Promise<UploadTarget> {
    const remote = normalizeRemotePath(remotePath);
    if (remote === '/') throw storageError('EISDIR', remote);
    const size = options.size === undefined ? undefined : checkCount(options.size, 'size', remote, 0);
    const overwrite = options.overwrite ?? false;
    const mtime = options.mtime === undefined ? undefined : checkMtime(options.mtime, remote);
    const slot = await this.#slot(remote);
    if (slot.stats?.isDirectory()) throw storageError('EISDIR', remote);
    if (slot.stats && !slot.stats.isFile()) throw storageError('EACCES', remote, 'not a regular file');
    if (slot.stats && !overwrite) throw storageError('EEXIST', remote);
    const target = slot.real ?? slot.abs;
    const dir = path.dirname(target);
    // a resumed upload needs room only for what it still has to send: checked once that is known
    // (before, the whole size was asked for, so a resume on a nearly full disk failed with ENOSPC).
    // An upload of at most `smallFileBytes` is not asked about: the early answer spares a large
    // upload sending data the disk cannot take, and a small one's own write says ENOSPC at once,
    // while the `statfs` cost each small file about 5 µs here (bench/README.md, eighteenth)
    if (size !== undefined && !options.resume && size > this.#smallFileBytes) await this.#checkSpace(dir, size, remote);
    const root = await this.#rootPath();
    if (options.resume) {
      const checkSpace = (bytes: number) => this.#checkSpace(dir, bytes, remote);
      return openResumable({ root, remote, target, dir, overwrite, size, resume: options.resume, fsync: this.#fsync, checkSpace, mtime });
    }
    const temp = path.join(dir, makeTempName(path.basename(target)));
    ACTIVE_UPLOADS.add(temp); // before it exists: the sweeper must never see it unclaimed
    const release = () => ACTIVE_UPLOADS.delete(temp);
    if (size !== undefined && size <= this.#smallFileBytes && this.#smallFileBytes > 0 && !this.#fsync) {
      try {
        const fd = await createSmallUploadFile(root, temp, remote);
        return new SmallLocalUpload({ fd, temp, target, remote, overwrite, size, mtime, onSettled: release });
      } catch (err) {
        release();
        throw fsError(err, remote);
      }
    }
    let handle: FileHandle | undefined;
    try {
      handle = await this.#fs(remote, () => createInside(root, temp, remote));
      return new LocalUpload({
        handle,
        root,
        temp,
        target,
        remote,
        overwrite,
        fsync: this.#fsync,
        onSettled: release,
        mtime,
      });
    } catch (err) {
      if (handle) {
        await handle.close().catch(() => {});
        await unlinkQuietly(temp).catch(() => {});
      }
      release();
      throw fsError(err, remote);
    }
  }

  /**
   * Remove upload leftovers under the root: partial files of resumable uploads untouched for
   * `resumableTtlMs`, and other temporary files (which a crash left behind: they can never
   * complete) untouched for `abandonedTtlMs`. Files of uploads in progress in this process are
   * never touched. Resolves to the number of files removed.
   */
  async sweep(options: SweepOptions): Promise<number> {
    return sweepLeftovers(await this.#rootPath(), options);
  }

  /** Total bytes of the files under a path (for quotas). Symbolic links are not followed; temporary files count. */
  async usage(remotePath: string): Promise<number> {
    const remote = normalizeRemotePath(remotePath);
    const real = await this.#real(remote);
    return this.#fs(remote, () => sizeOf(real));
  }

  // ---- resolution -------------------------------------------------------------------------

  /** The root's real path, resolved once. */
  #rootPath(): Promise<string> {
    this.#rootReal ??= fsp.realpath(this.#root).catch((err: unknown) => {
      this.#rootReal = undefined; // let a later call retry (the folder may be mounted later)
      throw new FileShareError('EIO', 'the storage folder is not accessible', { cause: err });
    });
    return this.#rootReal;
  }

  /** Real path of an existing remote path; `EACCES` if it leads outside the root. */
  async #real(remote: string): Promise<string> {
    const root = await this.#rootPath();
    const lexical = path.join(root, ...remoteComponents(remote));
    let real: string;
    try {
      real = await lookup.realpath(lexical);
    } catch (err) {
      throw await this.#unresolved(root, remote, err);
    }
    if (!isInside(root, real)) throw storageError('EACCES', remote, 'it leads outside the shared folder');
    return real;
  }

  /**
   * The answer for a path that does not resolve. A path whose links lead outside the root is
   * `EACCES` whether or not its target exists there (before, a missing outside file was `ENOENT`
   * and an existing one `EACCES`: a probe of the host's files), so the path is walked as the
   * kernel does, and the folder where the walk stopped decides: outside the root, `EACCES`.
   */
  async #unresolved(root: string, remote: string, err: unknown): Promise<FileShareError> {
    if (!isMissing(err)) return fsError(err, remote);
    const queue = remoteComponents(remote);
    let current = root;
    for (let hops = 0; queue.length > 0;) {
      const name = queue.shift()!;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        current = path.dirname(current);
        continue;
      }
      const next = path.join(current, name);
      let stats: Stats;
      try {
        stats = await fsp.lstat(next);
      } catch {
        break; // missing here: `current` decides
      }
      if (stats.isSymbolicLink()) {
        let value: string;
        try {
          value = await fsp.readlink(next);
        } catch {
          break;
        }
        if (++hops > 40) break; // a loop: the kernel gives up there too
        if (path.isAbsolute(value)) current = path.parse(value).root;
        queue.unshift(...value.split(path.sep));
        continue;
      }
      if (!stats.isDirectory()) break; // a file in the middle of the path (ENOTDIR)
      current = next;
    }
    if (!isInside(root, current)) return storageError('EACCES', remote, 'it leads outside the shared folder', err);
    return fsError(err, remote);
  }

  /** Resolve a path to create or replace: its parent must be a folder inside the root. */
  async #slot(remote: string): Promise<Slot> {
    const root = await this.#rootPath();
    const parentRemote = remoteDirname(remote);
    const parent = await this.#real(parentRemote);
    const parentStats = await this.#fs(parentRemote, () => lookup.lstat(parent));
    if (!parentStats.isDirectory()) throw storageError('ENOTDIR', parentRemote);
    const abs = path.join(parent, remoteBasename(remote));
    let link: Stats | null;
    try {
      link = await lookup.lstatIfAny(abs);
    } catch (err) {
      if (isMissing(err)) return { remote, parent, abs, link: null, real: null, stats: null };
      throw fsError(err, remote);
    }
    if (!link) return { remote, parent, abs, link: null, real: null, stats: null };
    if (!link.isSymbolicLink()) return { remote, parent, abs, link, real: abs, stats: link };
    let real: string;
    try {
      real = await lookup.realpath(abs);
    } catch (err) {
      throw storageError('EACCES', remote, 'a symbolic link that leads nowhere', err);
    }
    if (!isInside(root, real)) throw storageError('EACCES', remote, 'it leads outside the shared folder');
    const stats = await this.#fs(remote, () => lookup.lstat(real));
    return { remote, parent, abs, link, real, stats };
  }

  /** A slot that must exist (`ENOENT` otherwise). */
  async #existing(remote: string): Promise<Slot & { link: Stats; real: string; stats: Stats }> {
    const slot = await this.#slot(remote);
    if (!slot.link || !slot.real || !slot.stats) throw storageError('ENOENT', remote);
    return { ...slot, link: slot.link, real: slot.real, stats: slot.stats };
  }

  /** Run an fs call, mapping its errors to FileShareErrors about `remote`. */
  async #fs<T>(remote: string, fn: () => Promise<T>, overrides?: Record<string, 'ENOTEMPTY'>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fsError(err, remote, overrides);
    }
  }

  // ---- operations -------------------------------------------------------------------------

  /** mkdir -p, one component at a time, checking each against the root. */
  async #mkdirp(remote: string): Promise<void> {
    let current = '/';
    for (const name of remoteComponents(remote)) {
      current = current === '/' ? `/${name}` : `${current}/${name}`;
      const slot = await this.#slot(current);
      if (!slot.link) {
        try {
          await fsp.mkdir(slot.abs);
          continue;
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw fsError(err, current);
        }
        const again = await this.#slot(current); // created concurrently: fine if it is a folder
        if (!again.stats?.isDirectory()) throw storageError(again.stats ? 'ENOTDIR' : 'EEXIST', current);
        continue;
      }
      if (!slot.stats?.isDirectory()) throw storageError('ENOTDIR', current);
    }
  }

  /** Move a file without ever replacing the destination: link, then unlink the source. */
  async #moveFile(src: string, dst: string, from: string, to: string): Promise<void> {
    try {
      await fsp.link(src, dst);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') {
        return this.#checkedRename(src, dst, to); // no hard links on this filesystem
      }
      throw fsError(err, code === 'EEXIST' ? to : from);
    }
    try {
      await fsp.unlink(src);
    } catch (err) {
      await unlinkQuietly(dst).catch(() => {});
      throw fsError(err, from);
    }
  }

  /** `rename(2)` after checking the destination is free (rename would replace an empty folder or a file). */
  async #checkedRename(src: string, dst: string, to: string): Promise<void> {
    let taken = true;
    try {
      await fsp.lstat(dst);
    } catch (err) {
      if (!isMissing(err)) throw fsError(err, to);
      taken = false;
    }
    if (taken) throw storageError('EEXIST', to);
    await this.#fs(to, () => fsp.rename(src, dst));
  }

  /** A relative symbolic link means something else in another folder: it must still lead inside. */
  async #checkLinkMove(link: string, newParent: string, from: string): Promise<void> {
    const value = await this.#fs(from, () => fsp.readlink(link));
    if (path.isAbsolute(value)) return; // same meaning anywhere, and already checked
    const root = await this.#rootPath();
    let real: string;
    try {
      real = await fsp.realpath(path.resolve(newParent, value));
    } catch (err) {
      throw storageError('EACCES', from, 'the symbolic link would lead nowhere once moved', err);
    }
    if (!isInside(root, real)) throw storageError('EACCES', from, 'the symbolic link would lead outside once moved');
  }

  /** `ENOSPC` early when the announced size cannot fit (when the platform can tell). */
  async #checkSpace(dir: string, size: number, remote: string): Promise<void> {
    let free: number;
    try {
      const s = await lookup.statfs(dir);
      free = Number(s.bavail) * Number(s.bsize);
    } catch {
      return;
    }
    if (size > free) throw storageError('ENOSPC', remote, `${size} bytes announced`);
  }
}
