import type { TransferProgress } from '../metrics/events.ts';

/** The outcome of a verified upload or download. */
export interface TransferResult {
  /** Bytes transferred. */
  readonly bytes: number;
  /** SHA-256 of the whole file (hex), checked by both sides. */
  readonly sha256: string;
  /** Duration in milliseconds. */
  readonly ms: number;
  /** Average rate in MB/s (1 MB = 10^6 bytes) of the bytes this call moved (a resumed transfer's kept part excluded). */
  readonly mbps: number;
  /** Bytes already in place from an interrupted attempt, after which this call continued (0 unless resumed). */
  readonly resumedFrom: number;
}

/** Options of `client.upload`. */
export interface UploadOptions {
  /** Replace an existing remote file. Without it an existing target fails with `EEXIST`. @default false */
  overwrite?: boolean;
  /** Called with progress at most every `progressInterval`, and once at the end. */
  onProgress?: (progress: TransferProgress) => void;
  /**
   * Cancel the upload: it rejects with `EABORTED` and nothing is left under the target name. An
   * abort that arrives after the server has already stored the file is too late: the upload resolves.
   */
  signal?: AbortSignal;
  /** For a Readable source: the size in bytes, if known (progress totals, early size checks). */
  size?: number;
  /**
   * Make the upload resumable (local file sources only): if an earlier attempt of the same file to
   * the same path was interrupted (dropped connection, crash, server restart), continue after the
   * bytes the server kept, once both sides proved by SHA-256 that they are the start of this file;
   * otherwise start from zero. An interrupted resumable upload keeps its data on the server until it
   * is resumed or expires (`resumableUploadTtl`). @default false
   */
  resume?: boolean;
  /**
   * Give the remote file this modification time (a Date or ms since the epoch) instead of the time
   * of its upload. Takes precedence over `preserveMtime`.
   */
  mtime?: number | Date;
  /**
   * For a local file source: give the remote file the local file's modification time (as
   * `sftp -p`). The folder calls and `sync` do this unless told otherwise. @default false
   */
  preserveMtime?: boolean;
}

/** Options of `client.download`. */
export interface DownloadOptions {
  /** Called with progress at most every `progressInterval`, and once at the end. */
  onProgress?: (progress: TransferProgress) => void;
  /** Cancel the download: it rejects with `EABORTED`; a local destination file is not created. */
  signal?: AbortSignal;
  /**
   * Resume an interrupted download to a local path: the partial data is kept beside the target as
   * `.<name>.fileshare-partial`, and the next download with `resume` continues after it once the
   * server confirmed, by SHA-256, that it is the start of the same file (otherwise from zero).
   * @default false
   */
  resume?: boolean;
  /**
   * For a local path destination: give the local file the remote file's modification time (as
   * `sftp -p`), instead of the time of the download. The folder calls and `sync` do this unless
   * told otherwise. @default false
   */
  preserveMtime?: boolean;
}
