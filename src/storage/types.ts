import type { Readable, Writable } from 'node:stream';
import type { Entry } from '../protocol/operations.ts';

export type { Entry };

/**
 * A running SHA-256 that can be continued with more data: Node's `Hash`, or a backend's own
 * hasher (one whose state it can save next to the kept data, see {@link UploadTarget.keptPrefix}).
 */
export interface IncrementalHash {
  /** Add bytes. */
  update(data: Buffer): unknown;
  /** The hex digest of everything added (the hash is finished). */
  digest(encoding: 'hex'): string;
}

/** Proof of the bytes a resumed upload kept, as a backend that cannot read them back gives it. */
export interface KeptPrefix {
  /** SHA-256 (hex) of the `offset` kept bytes. */
  readonly sha256: string;
  /** The hash state after those bytes, to be continued with the new data (a fresh instance each call). */
  readonly hash: IncrementalHash;
}

/** An upload in progress: bytes go to `stream`, then `commit()` or `abort()`. */
export interface UploadTarget {
  /** Where the data goes (a temporary object until committed). */
  readonly stream: Writable;
  /**
   * Make the data visible under the target path, atomically. Call only after `stream` finished.
   * Fails with `EEXIST` when the target exists and the upload did not ask to overwrite.
   */
  commit(): Promise<void>;
  /** Throw the data away; the target path is untouched. Safe to call more than once. */
  abort(): Promise<void>;
  /**
   * Bytes already present from an earlier, interrupted attempt of a resumable upload (0 for a
   * fresh upload). New data is appended after them.
   */
  readonly offset: number;
  /** The `offset` bytes already present, for verifying them by hash before resuming. */
  readExisting(): Readable;
  /**
   * Optional: the SHA-256 of the `offset` kept bytes and the hash state after them, kept by the
   * backend with the data. When present the server continues its end-to-end hash from there and
   * never reads the kept bytes back (an object store cannot read the parts of an unfinished
   * multipart upload, and re-hashing gigabytes at every resume is slow).
   */
  keptPrefix?(): Promise<KeptPrefix>;
  /**
   * Stop, but keep the data written so far for a later resume (resumable uploads); for other
   * uploads this is `abort()`. The target path is untouched.
   */
  suspend(): Promise<void>;
}

/**
 * Identifies a resumable upload across connections and server restarts. The caller (the server)
 * runs one attempt of an upload at a time and takes over from an older one itself; a backend that
 * finds an attempt of the same upload still open in this process refuses the new one with `EBUSY`
 * and never calls back into the caller.
 */
export interface ResumeOptions {
  /** Key of the upload (16 to 64 lowercase hex digits), derived by the caller from what it uploads. */
  readonly key: string;
  /** Throw away what an earlier attempt left and start from byte 0. */
  readonly restart?: boolean;
  /**
   * The caller holds this upload's lock in a store every node shares (the server's
   * `sharedState.resumeLocks`): no other node runs it, so the backend takes no cross-node lock of
   * its own (S3Storage writes no lock object). Attempts within this process are still serialised.
   */
  readonly sharedLock?: boolean;
}

/** Options for {@link Storage.openUpload}. */
export interface OpenUploadOptions {
  /** Replace an existing file at the path. Default false: the commit fails with `EEXIST`. */
  readonly overwrite?: boolean;
  /** Expected size, if the client announced it (lets a backend check space early). */
  readonly size?: number;
  /** Make the upload resumable: data of an interrupted attempt with the same key is kept and continued. */
  readonly resume?: ResumeOptions;
  /**
   * Modification time to give the file on commit, ms since the epoch (the source's mtime, so that
   * `sync` can compare by size and mtime). Without it the file keeps the time of its commit. A
   * backend that cannot set modification times ignores it.
   */
  readonly mtime?: number;
}

/** Options of {@link Storage.sweep}. */
export interface SweepOptions {
  /** Remove data of resumable uploads untouched for this long, ms. */
  readonly resumableTtlMs: number;
  /** Remove other temporary files untouched for this long, ms (left by a crash: they can never complete). */
  readonly abandonedTtlMs: number;
}

/** An opened file for reading. */
export interface ReadHandle {
  /** The file's bytes from the requested offset to the end. */
  readonly stream: Readable;
  /** The file's total size in bytes. */
  readonly size: number;
  /** Modification time, ms since the epoch. */
  readonly mtime: number;
  /**
   * Optional identity of this version of the file (LocalStorage: device, inode, size and mtime in
   * ns), so that two opens can tell whether they saw the same content. Without it, size and mtime
   * are compared.
   */
  readonly version?: string;
}

/**
 * What a {@link Storage} backend guarantees. A backend without `capabilities` is taken to be like
 * {@link LocalStorage}: every one true. docs/scaling.md says what the server does when one is false.
 */
export interface StorageCapabilities {
  /** `rename` is all-or-nothing (a folder rename too). False: copy + delete, a failure midway can leave both names. */
  readonly atomicRename: boolean;
  /** An upload without `overwrite` never replaces a file, even one created concurrently. */
  readonly atomicCreate: boolean;
  /** Interrupted resumable uploads keep their data (`offset` > 0 on the next attempt). False: every attempt starts at byte 0. */
  readonly resumableUploads: boolean;
  /** The backend hashes stored bytes itself (the server still hashes the stream end to end). */
  readonly serverSideHash: boolean;
}

/**
 * Where files live. All paths are POSIX, absolute (`/` is this storage's root) and already
 * normalised by the caller. Implementations must never touch anything outside their root, also
 * through symbolic links, and must throw `FileShareError` (`ENOENT`, `EEXIST`, `EACCES`, ...).
 *
 * The default is {@link LocalStorage} (a local folder); another backend (an S3-compatible object
 * store, say) implements this interface and nothing in the protocol changes.
 */
export interface Storage {
  /** What this backend guarantees; absent means all of {@link StorageCapabilities}. */
  readonly capabilities?: StorageCapabilities;
  /** A storage whose root is the folder `path` of this one (used for users' homes). Creates it if missing. */
  scope(path: string): Promise<Storage>;
  /** Metadata of a file or folder. */
  stat(path: string): Promise<Entry>;
  /** The entries of a folder, internal temporary files excluded, sorted by name. */
  list(path: string): Promise<Entry[]>;
  /**
   * Optional: the entries of a folder in pages, in the backend's own order (not necessarily by
   * name), so that a folder of millions of entries never has to be held at once. A server with a
   * backend that has it streams unsorted listings page by page; without it, it sends `list()`.
   */
  entries?(path: string): AsyncIterable<Entry[]>;
  /** Create a folder; with `recursive`, parents too and no error if it exists. */
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Remove a folder; with `recursive`, its contents too. The root cannot be removed. */
  rmdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Delete a file (`EISDIR` for folders). */
  delete(path: string): Promise<void>;
  /** Rename or move; never overwrites (`EEXIST`). */
  rename(from: string, to: string): Promise<void>;
  /** Open a file for reading from `offset` (default 0). */
  openRead(path: string, options?: { offset?: number; highWaterMark?: number }): Promise<ReadHandle>;
  /** Start an atomic upload to `path`. Nothing is visible under `path` until `commit()`. */
  openUpload(path: string, options?: OpenUploadOptions): Promise<UploadTarget>;
  /**
   * SHA-256 (hex) of a file, for `stat` with `sha256`. A backend caches it per file version so an
   * unchanged file is not re-read (LocalStorage does); without this method the server reads the
   * file through `openRead` on each request.
   */
  sha256?(path: string, options?: { signal?: AbortSignal }): Promise<string>;
  /** Total bytes of files under `path` (for quotas). */
  usage?(path: string): Promise<number>;
  /** Remove expired upload leftovers (temporary files) anywhere under the root; resolves to how many. */
  sweep?(options: SweepOptions): Promise<number>;
}
