import type { FileShareError } from '../errors.ts';
import type { Entry } from '../storage/types.ts';
import type { DownloadOptions, TransferResult, UploadOptions } from './transfer-types.ts';

/** A file or folder of a tree being transferred, named by its path relative to the tree's top. */
export interface TreeEntry {
  /** Relative POSIX path (`sub/file.txt`), never starting with `/` or containing `..`. */
  readonly path: string;
  /** `file` or `directory`. */
  readonly type: 'file' | 'directory';
  /** Size in bytes (0 for folders). */
  readonly size: number;
  /** Modification time, whole ms since the epoch. */
  readonly mtime: number;
}

/** Aggregate progress of a folder transfer or a sync. */
export interface FolderProgress {
  /** Files finished (transferred, skipped or failed) so far. */
  readonly filesDone: number;
  /** Files to handle in all. */
  readonly filesTotal: number;
  /** Bytes moved so far (of finished and running files). */
  readonly bytesDone: number;
  /** Bytes of all files to transfer. */
  readonly bytesTotal: number;
  /** Relative paths of the files moving right now. */
  readonly current: readonly string[];
  /** Milliseconds since the transfer started. */
  readonly elapsedMs: number;
  /** Average rate so far, MB/s (1 MB = 10^6 bytes). */
  readonly mbps: number;
}

/** Why a file was not transferred. */
export type SkipReason =
  /** The target exists and `overwrite` was not set. */
  | 'exists'
  /** A symbolic link (skipped unless `followSymlinks`), or one leading out of the tree. */
  | 'symlink'
  /** Neither a regular file nor a folder (socket, device, FIFO). */
  | 'special'
  /** Left out by `filter`, `include` or `exclude`. */
  | 'filtered'
  /** `sync`: the same on both sides. */
  | 'unchanged';

/** Selection and behaviour shared by {@link FileShareClient.uploadDir}, `downloadDir` and `sync`. */
export interface FolderOptions {
  /**
   * Files moving at once over the one connection (1 to 64; the server answers more than its
   * `maxRequestsInFlight`, 64 by default, with `EBUSY`). Files over 64 KiB start first, largest
   * first, and make up at most one in eight of them (at least one), so they move alongside the
   * small files instead of alone at the end.
   * @default 32, or half the server's `maxRequestsInFlight` when the server announces a lower one
   */
  concurrency?: number;
  /**
   * Keep a file or folder only if this returns true (a folder left out is not descended into).
   * Applied after `include` / `exclude`.
   */
  filter?: (entry: TreeEntry) => boolean;
  /**
   * Glob patterns over relative paths (see {@link globMatcher}; hidden names match too, and a pattern
   * without a slash matches a name at any depth, as in rsync): only files matching one are
   * transferred. Folders are always descended into.
   */
  include?: string | readonly string[];
  /** Glob patterns (as `include`) of files and folders to leave out; a folder left out is not descended into. */
  exclude?: string | readonly string[];
  /** Replace existing target files. Without it an existing file is skipped (reason `exists`), never replaced. @default false */
  overwrite?: boolean;
  /** Each file's transfer is resumable (see `UploadOptions.resume` / `DownloadOptions.resume`). @default false */
  resume?: boolean;
  /** Give each target file its source's modification time. @default true */
  preserveMtime?: boolean;
  /**
   * Follow symbolic links in the local tree (uploads; for downloads, local folders that are links).
   * A link is followed only if it leads to a place inside the tree given; links leading out of it,
   * and loops, are skipped (reason `symlink`). @default false: links are skipped
   */
  followSymlinks?: boolean;
  /**
   * Go on after a file fails, collecting the errors in the result's `failed`. Without it the first
   * failure cancels the files in flight (nothing is left under their names) and rejects.
   * @default false
   */
  continueOnError?: boolean;
  /** Cancel: files in flight are aborted (nothing is left under their names) and the call rejects with `EABORTED`. */
  signal?: AbortSignal;
  /** Aggregate progress, at most every 100 ms and once at the end. */
  onProgress?: (progress: FolderProgress) => void;
  /** Called as each file finishes (for a per-file log line). */
  onFile?: (event: FolderFileEvent) => void;
}

/** A file that was transferred. */
export interface FolderTransferred {
  /** Relative path in the tree. */
  readonly path: string;
  /** Its verified upload or download. */
  readonly result: TransferResult;
}

/** An entry that was not transferred. */
export interface FolderSkipped {
  /** Relative path in the tree. */
  readonly path: string;
  /** Why. */
  readonly reason: SkipReason;
}

/** A file that failed. */
export interface FolderFailed {
  /** Relative path in the tree. */
  readonly path: string;
  /** What went wrong. */
  readonly error: FileShareError;
}

/** {@link FolderFileEvent} of a file transferred. */
export interface FolderFileTransferred extends FolderTransferred {
  /** How the file ended. */
  readonly outcome: 'transferred';
}

/** {@link FolderFileEvent} of an entry left out. */
export interface FolderFileSkipped extends FolderSkipped {
  /** How the file ended. */
  readonly outcome: 'skipped';
}

/** {@link FolderFileEvent} of a file that failed. */
export interface FolderFileFailed extends FolderFailed {
  /** How the file ended. */
  readonly outcome: 'failed';
}

/** One file finished: `outcome` says how. */
export type FolderFileEvent = FolderFileTransferred | FolderFileSkipped | FolderFileFailed;

/** The outcome of a folder transfer. */
export interface FolderResult {
  /** Files transferred, with their verified results. */
  readonly transferred: readonly FolderTransferred[];
  /** Entries not transferred, and why. */
  readonly skipped: readonly FolderSkipped[];
  /** Files that failed (only with `continueOnError`; otherwise the call rejects). */
  readonly failed: readonly FolderFailed[];
  /** Folders created on the target side (the top folder counts when it was new). */
  readonly foldersCreated: number;
  /** Bytes moved. */
  readonly bytes: number;
  /** Duration, ms. */
  readonly ms: number;
  /** Average rate, MB/s. */
  readonly mbps: number;
}

/** What the folder calls need of a client: its public calls. @internal */
export interface FolderClient {
  list(dir: string): Promise<Entry[]>;
  stat(path: string, options?: { sha256?: boolean }): Promise<Entry & { sha256?: string }>;
  mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  rmdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  delete(path: string): Promise<void>;
  upload(source: string, remotePath: string, options?: UploadOptions): Promise<TransferResult>;
  download(remotePath: string, destination: string, options?: DownloadOptions): Promise<TransferResult>;
}
