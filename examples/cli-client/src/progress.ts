/**
 * Transfer feedback: a cli-progress bar on stderr while bytes move (only on a terminal), and one
 * summary line on stdout when the transfer is verified, always (unless --quiet):
 *   uploaded a.bin 12.3 MB in 0.40 s (30.1 MB/s), sha256 ab12cd34ef56…
 */
import type { SingleBar } from 'cli-progress';
import type { FolderFileEvent, FolderProgress, TransferProgress, TransferResult } from 'fileshare';
import { formatBytes, formatDuration, formatRate, shortHash } from './format.ts';
import type { Io } from './io.ts';

export type Direction = 'upload' | 'download';

export interface TransferFeedback {
  /** Pass as the library's `onProgress`. */
  onProgress(progress: TransferProgress): void;
  /** The transfer succeeded: remove the bar, print the summary line. */
  done(result: TransferResult): void;
  /** The transfer failed or was cancelled: remove the bar. */
  stop(): void;
}

/** cli-progress is loaded only when a bar can be shown (scripts start faster without it). */
let cliProgress: typeof import('cli-progress') | undefined;

export function transferFeedback(io: Io, direction: Direction, label: string): TransferFeedback {
  let bar: SingleBar | undefined;
  if (io.progress && !cliProgress) {
    import('cli-progress').then(
      (m) => (cliProgress = m.default),
      () => {},
    );
  }
  const ensureBar = (total: number) => {
    if (bar || !io.progress || !cliProgress) return bar; // until the module is loaded, no bar yet
    bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${direction === 'upload' ? '↑' : '↓'} {label} |{bar}| {percentage}% {done}/{size} {speed} ETA {eta_formatted}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total, 1), 0, { label, done: formatBytes(0), size: formatBytes(total), speed: '' });
    return bar;
  };
  return {
    onProgress(p) {
      ensureBar(p.totalBytes ?? p.bytes)?.update(p.bytes, {
        done: formatBytes(p.bytes),
        size: formatBytes(p.totalBytes ?? p.bytes),
        speed: formatRate(p.bytes, p.elapsedMs),
      });
    },
    done(result) {
      bar?.stop();
      bar = undefined;
      if (!io.quiet) io.out(summaryLine(direction, label, result));
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

export function summaryLine(direction: Direction, label: string, result: TransferResult): string {
  const verb = direction === 'upload' ? 'uploaded' : 'downloaded';
  // a resumed transfer's rate is that of the bytes this run moved, not of the whole file
  const moved = result.bytes - result.resumedFrom;
  const resumed = result.resumedFrom > 0 ? `, resumed at ${result.resumedFrom} bytes (${formatBytes(moved)} moved)` : '';
  return `${verb} ${label} ${formatBytes(result.bytes)} in ${formatDuration(result.ms)} (${formatRate(moved, result.ms)})${resumed}, sha256 ${shortHash(result.sha256)}`;
}

/** Feedback of a folder transfer or sync: one aggregate bar; with `verbose`, a line per file. */
export interface FolderFeedback {
  /** Pass as the library's `onProgress`. */
  onProgress(progress: FolderProgress): void;
  /** Pass as the library's `onFile`. */
  onFile(event: FolderFileEvent): void;
  /** Remove the bar. */
  stop(): void;
}

export function folderFeedback(io: Io, direction: Direction, label: string, verbose: boolean): FolderFeedback {
  let bar: SingleBar | undefined;
  if (io.progress && !cliProgress) {
    import('cli-progress').then(
      (m) => (cliProgress = m.default),
      () => {},
    );
  }
  const verb = direction === 'upload' ? 'uploaded' : 'downloaded';
  return {
    onProgress(p) {
      if (!bar && io.progress && cliProgress) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${direction === 'upload' ? '↑' : '↓'} {label} |{bar}| {percentage}% {files} files {done}/{size} {speed} ETA {eta_formatted}`,
            barsize: 24,
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 30,
            fps: 10,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(p.bytesTotal, 1), 0, { label, files: '', done: '', size: '', speed: '' });
      }
      bar?.update(p.bytesDone, {
        files: `${p.filesDone}/${p.filesTotal}`,
        done: formatBytes(p.bytesDone),
        size: formatBytes(p.bytesTotal),
        speed: formatRate(p.bytesDone, p.elapsedMs),
      });
    },
    onFile(e) {
      if (!verbose || io.quiet) return;
      // above the bar: cli-progress redraws it on the next update
      if (e.outcome === 'transferred') io.out(`${verb} ${e.path} ${formatBytes(e.result.bytes)}, sha256 ${shortHash(e.result.sha256)}`);
      else if (e.outcome === 'skipped') io.out(`skipped ${e.path} (${e.reason})`);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
