import type { TransferProgress } from '../metrics/events.ts';

/** The outcome of a verified upload or download. */
export interface TransferResult {
  /** Bytes transferred. */
  readonly bytes: number;
  /** SHA-256 of the whole file (hex), checked by both sides. */
  readonly sha256: string;
  /** Duration in milliseconds. */
  readonly ms: number;
  /** Average rate in MB/s (1 MB = 10^6 bytes). */
  readonly mbps: number;
}

/** Options of `client.upload`. */
export interface UploadOptions {
  /** Replace an existing remote file. Without it an existing target fails with `EEXIST`. @default false */
  overwrite?: boolean;
  /** Called with progress at most every `progressIntervalMs`, and once at the end. */
  onProgress?: (progress: TransferProgress) => void;
  /** Cancel the upload: it rejects with `EABORTED` and nothing is left under the target name. */
  signal?: AbortSignal;
  /** For a Readable source: the size in bytes, if known (progress totals, early size checks). */
  size?: number;
}

/** Options of `client.download`. */
export interface DownloadOptions {
  /** Called with progress at most every `progressIntervalMs`, and once at the end. */
  onProgress?: (progress: TransferProgress) => void;
  /** Cancel the download: it rejects with `EABORTED`; a local destination file is not created. */
  signal?: AbortSignal;
}
