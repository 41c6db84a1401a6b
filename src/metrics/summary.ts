/** Summary of a latency and throughput measurement: the seed's performance block and more. */
export interface MeasureSummary {
  /** Mean round trip of the answered pings, ms (`Infinity` when none answered, as the seed recorded). */
  readonly averageLatencyMs: number;
  /** Shortest round trip of the answered pings, ms (`Infinity` when none answered). */
  readonly minLatencyMs: number;
  /** Longest round trip of the answered pings, ms (`Infinity` when none answered). */
  readonly maxLatencyMs: number;
  /** Median round trip of the answered pings, ms, linearly interpolated (`Infinity` when none answered). */
  readonly p50LatencyMs: number;
  /** 95th percentile round trip of the answered pings, ms, linearly interpolated (`Infinity` when none answered). */
  readonly p95LatencyMs: number;
  /** Mean absolute difference between consecutive round trips, ms (RFC 3550's idea, unsmoothed). */
  readonly jitterMs: number;
  /** Upload throughput in MB/s (10^6 bytes per second); 0 when not measured or failed. */
  readonly throughputMBps: number;
  /** Lost pings as a percentage of all pings sent. */
  readonly packetLossPercent: number;
  /** Number of pings answered in time. */
  readonly successfulPings: number;
  /** Number of pings sent, answered or lost. */
  readonly totalPings: number;
  /** When the measurement ended, ISO 8601. */
  readonly timestamp: string;
  /** Every round trip, in order; `null` for a lost ping. */
  readonly samples: ReadonlyArray<number | null>;
}

/** Value at quantile `q` (0..1) of ascending `sorted`, linear interpolation. @internal */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Build a {@link MeasureSummary} from ping samples (`null` = lost) and a throughput figure.
 * With no answered ping, latencies are `Infinity` and loss is 100 %, as the seed's CSV shows.
 */
export function summarize(samples: ReadonlyArray<number | null>, throughputMBps = 0, at: Date = new Date()): MeasureSummary {
  const ok = samples.filter((s): s is number => s !== null);
  const sorted = [...ok].sort((a, b) => a - b);
  let jitter = 0;
  for (let i = 1; i < ok.length; i++) jitter += Math.abs(ok[i]! - ok[i - 1]!);
  const none = ok.length === 0;
  return {
    averageLatencyMs: none ? Infinity : ok.reduce((a, b) => a + b, 0) / ok.length,
    minLatencyMs: none ? Infinity : sorted[0]!,
    maxLatencyMs: none ? Infinity : sorted[sorted.length - 1]!,
    p50LatencyMs: none ? Infinity : quantile(sorted, 0.5),
    p95LatencyMs: none ? Infinity : quantile(sorted, 0.95),
    jitterMs: ok.length > 1 ? jitter / (ok.length - 1) : 0,
    throughputMBps,
    packetLossPercent: samples.length === 0 ? 100 : ((samples.length - ok.length) / samples.length) * 100,
    successfulPings: ok.length,
    totalPings: samples.length,
    timestamp: at.toISOString(),
    samples: [...samples],
  };
}

/** MB/s (10^6 bytes per second) for `bytes` moved in `ms`. @internal */
export function megabytesPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : 0;
}
