import type { TransferDirection, TransferProgress } from './events.ts';
import { megabytesPerSecond } from './summary.ts';

/**
 * Counts a transfer's bytes and reports progress at most every `intervalMs` (and always at the
 * end), so a 1 GiB transfer does not flood listeners with thousands of events per second. With
 * `listening`, an event is built only when it says someone listens: most transfers have no
 * progress listener, and for small files building and emitting the events was about 1 % of
 * each side's time (bench/README.md).
 * @internal
 */
export class ProgressMeter {
  readonly startedAt = performance.now();
  private bytes = 0;
  private lastReport = 0;

  constructor(
    private readonly base: { id: number; direction: TransferDirection; path: string; totalBytes: number | undefined; username?: string },
    private readonly report: (progress: TransferProgress) => void,
    private readonly intervalMs = 100,
    initialBytes = 0,
    private readonly listening?: () => boolean,
  ) {
    this.bytes = initialBytes;
  }

  get totalSoFar(): number {
    return this.bytes;
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  add(n: number): void {
    this.bytes += n;
    const now = performance.now();
    if (now - this.lastReport >= this.intervalMs) {
      this.lastReport = now;
      this.emit(now);
    }
  }

  /** Report the final figure. */
  flush(): void {
    this.emit(performance.now());
  }

  private emit(now: number): void {
    if (this.listening && !this.listening()) return;
    const elapsedMs = now - this.startedAt;
    this.report({ ...this.base, bytes: this.bytes, elapsedMs, mbps: megabytesPerSecond(this.bytes, elapsedMs) });
  }
}
