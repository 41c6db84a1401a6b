/** Throughput of the load, from the client's `metrics` `progress` and `transfer` events. */
import type { ClientMetrics, TransferComplete, TransferProgress } from 'fileshare';

/** Bytes moved per second over the last `windowMs`, and the average over the whole load. */
export class ThroughputMeter {
  /** Per transfer (request id): bytes so far and ms spent. */
  private readonly transfers = new Map<number, { bytes: number; ms: number }>();
  /** (time, cumulative bytes) marks, for the windowed rate. */
  private readonly marks: Array<[number, number]> = [];
  private total = 0;

  constructor(private readonly windowMs = 1000) {}

  /** Count the events of `metrics` whose path is `path`; returns the unsubscribe function. */
  attach(metrics: ClientMetrics, path: string): () => void {
    const onProgress = (e: TransferProgress) => e.path === path && this.update(e.id, e.bytes, e.elapsedMs);
    const onTransfer = (e: TransferComplete) => e.path === path && this.update(e.id, e.bytes, e.ms);
    metrics.on('progress', onProgress);
    metrics.on('transfer', onTransfer);
    return () => {
      metrics.off('progress', onProgress);
      metrics.off('transfer', onTransfer);
    };
  }

  update(id: number, bytes: number, ms: number, now = performance.now()): void {
    const before = this.transfers.get(id)?.bytes ?? 0;
    this.transfers.set(id, { bytes, ms });
    this.total += Math.max(0, bytes - before);
    this.marks.push([now, this.total]);
  }

  /** MB/s (10^6 bytes/s) over the last window. */
  current(now = performance.now()): number {
    const from = now - this.windowMs;
    while (this.marks.length > 1 && this.marks[1]![0] <= from) this.marks.shift();
    const first = this.marks[0];
    if (!first) return 0;
    const base = first[0] <= from ? first[1] : 0;
    return (this.total - base) / 1e6 / (this.windowMs / 1000);
  }

  /** Average MB/s of the load: all bytes moved over the time the transfers took. */
  average(): number {
    let bytes = 0;
    let ms = 0;
    for (const t of this.transfers.values()) {
      bytes += t.bytes;
      ms += t.ms;
    }
    return ms > 0 ? bytes / 1e6 / (ms / 1000) : 0;
  }
}
