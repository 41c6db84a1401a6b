/** Running figures of a run, updated once per ping: what the terminal line and the page show. */

/** One ping as recorded, plotted and written to latency_details.csv. */
export interface Point {
  /** 1-based number of the ping in this run. */
  readonly seq: number;
  /** When it was sent, ms since the epoch. */
  readonly sentAt: number;
  /** Seconds since the first ping (the chart's x axis). */
  readonly t: number;
  /** Round trip in ms, `null` when lost. */
  readonly rttMs: number | null;
  /** Rolling average of the last answered round trips, ms (`null` for a lost ping and before the first answer). */
  readonly avgMs: number | null;
  /** Load throughput around this ping, MB/s; `null` when the run has no load. */
  readonly mbps: number | null;
  /** Round trip of the UDP probe sent with this ping, ms; `null` when it was lost; absent without a probe. */
  readonly udpRttMs?: number | null;
  /** Share of the UDP probes lost over the last second up to this one, %; absent without a probe. */
  readonly udpLossRate?: number;
}

/** The live figures. */
export interface LiveStats {
  readonly count: number;
  readonly lost: number;
  readonly lastMs: number | null;
  readonly avgMs: number | null;
  readonly p95Ms: number | null;
  readonly lossPercent: number;
  readonly mbps: number | null;
  /** The UDP probes so far; null before the first probe (or when the server offers none). */
  readonly udp: UdpLiveStats | null;
}

/** The live figures of the UDP probes. */
export interface UdpLiveStats {
  readonly sent: number;
  readonly lost: number;
  readonly lossPercent: number;
  /** Loss over the last second, %. */
  readonly lossRate: number;
  readonly lastMs: number | null;
  readonly avgMs: number | null;
  readonly p95Ms: number | null;
}

/** Seconds the rolling loss rate spans. */
const LOSS_RATE_WINDOW_S = 1;

/** Accumulates round trips; `add` returns the point to plot and `stats` the figures so far. */
export class RunStats {
  private readonly sorted: number[] = [];
  private readonly recent: number[] = [];
  private sum = 0;
  private count = 0;
  private lost = 0;
  private last: Point | undefined;
  private readonly udpSorted: number[] = [];
  private udpSum = 0;
  private udpSent = 0;
  private udpLost = 0;
  private udpLast: number | null = null;
  /** Probes of the last second: time and whether lost. */
  private readonly udpRecent: Array<{ t: number; lost: boolean }> = [];

  /** @param window - how many answered pings the rolling average spans */
  constructor(private readonly window: number) {}

  add(sample: { seq: number; sentAt: number; t: number; rttMs: number | null; mbps: number | null; udpRttMs?: number | null }): Point {
    this.count++;
    if (sample.rttMs === null) {
      this.lost++;
    } else {
      this.sum += sample.rttMs;
      this.sorted.splice(insertionIndex(this.sorted, sample.rttMs), 0, sample.rttMs);
      this.recent.push(sample.rttMs);
      if (this.recent.length > this.window) this.recent.shift();
    }
    // no average at a lost ping: the chart's average line breaks there like the latency line
    const avgMs = this.recent.length && sample.rttMs !== null ? this.recent.reduce((a, b) => a + b, 0) / this.recent.length : null;
    const udp = sample.udpRttMs === undefined ? {} : { udpLossRate: this.addProbe(sample.t, sample.udpRttMs) };
    this.last = { ...sample, avgMs, ...udp };
    return this.last;
  }

  /** Record a probe; returns the loss rate over the last second. */
  private addProbe(t: number, rttMs: number | null): number {
    this.udpSent++;
    this.udpLast = rttMs;
    if (rttMs === null) {
      this.udpLost++;
    } else {
      this.udpSum += rttMs;
      this.udpSorted.splice(insertionIndex(this.udpSorted, rttMs), 0, rttMs);
    }
    this.udpRecent.push({ t, lost: rttMs === null });
    while (this.udpRecent.length > 0 && this.udpRecent[0]!.t <= t - LOSS_RATE_WINDOW_S) this.udpRecent.shift();
    return (this.udpRecent.filter((p) => p.lost).length / this.udpRecent.length) * 100;
  }

  private udpStats(): UdpLiveStats | null {
    if (this.udpSent === 0) return null;
    const answered = this.udpSorted.length;
    const recentLost = this.udpRecent.filter((p) => p.lost).length;
    return {
      sent: this.udpSent,
      lost: this.udpLost,
      lossPercent: (this.udpLost / this.udpSent) * 100,
      lossRate: this.udpRecent.length ? (recentLost / this.udpRecent.length) * 100 : 0,
      lastMs: this.udpLast,
      avgMs: answered ? this.udpSum / answered : null,
      p95Ms: answered ? quantile(this.udpSorted, 0.95) : null,
    };
  }

  stats(): LiveStats {
    const answered = this.sorted.length;
    return {
      count: this.count,
      lost: this.lost,
      lastMs: this.last?.rttMs ?? null,
      avgMs: answered ? this.sum / answered : null,
      p95Ms: answered ? quantile(this.sorted, 0.95) : null,
      lossPercent: this.count ? (this.lost / this.count) * 100 : 0,
      mbps: this.last?.mbps ?? null,
      udp: this.udpStats(),
    };
  }
}

function insertionIndex(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Linear interpolation between closest ranks, as the library's `summarize` does. */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
