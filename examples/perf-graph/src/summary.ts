/** The seed's NETWORK PERFORMANCE block, and the timestamps both it and the CSV files use. */
import type { MeasureSummary, UdpSummary } from 'fileshare';

/**
 * The block exactly as the seed printed it:
 * ```
 * =====
 *           NETWORK PERFORMANCE
 * =====
 *
 * Average Latency :  9.82 ms
 * Throughput      :  2.49 MB/s
 * Packet Loss     :  0.0 %
 * Successful pings: 50 / 50
 * Timestamp       : 2025-11-12 14:12:51
 * =====
 * ```
 */
export function formatSummary(summary: MeasureSummary, at: Date): string {
  return [
    '=====',
    '          NETWORK PERFORMANCE',
    '=====',
    '',
    `Average Latency :  ${fixed(summary.averageLatencyMs, 2)} ms`,
    `Throughput      :  ${fixed(summary.throughputMBps, 2)} MB/s`,
    `Packet Loss     :  ${fixed(summary.packetLossPercent, 1)} %`,
    `Successful pings: ${summary.successfulPings} / ${summary.totalPings}`,
    `Timestamp       : ${localTimestamp(at)}`,
    '=====',
  ].join('\n');
}

/** The figures the seed did not have, on one line: min / p50 / p95 / max and jitter. */
export function formatDetails(summary: MeasureSummary): string {
  if (summary.successfulPings === 0) return '';
  const ms = (x: number) => fixed(x, 2);
  return `Latency min ${ms(summary.minLatencyMs)} / p50 ${ms(summary.p50LatencyMs)} / p95 ${ms(summary.p95LatencyMs)} / max ${ms(summary.maxLatencyMs)} ms, jitter ${ms(summary.jitterMs)} ms`;
}

/**
 * The UDP probes' figures, after the seed's block: real packet loss (TCP pings resend what is
 * lost, so the block's `Packet Loss` counts only pings that timed out).
 * ```
 * UDP loss 9.8 % (902 / 1000 answered; 0 late, 0 duplicated, 1 reordered)
 * UDP latency min 0.31 / p50 0.52 / p95 0.90 / max 3.10 ms, jitter 0.05 ms
 * ```
 */
export function formatUdp(udp: UdpSummary): string {
  if (!udp.available) return `UDP loss not measured: ${udp.reason}`;
  const ms = (x: number) => fixed(x, 2);
  return [
    `UDP loss ${fixed(udp.lossPercent, 1)} % (${udp.received} / ${udp.sent} answered; ${udp.late} late, ${udp.duplicated} duplicated, ${udp.reordered} reordered)`,
    `UDP latency min ${ms(udp.rtt.min)} / p50 ${ms(udp.rtt.p50)} / p95 ${ms(udp.rtt.p95)} / max ${ms(udp.rtt.max)} ms, jitter ${ms(udp.jitterMs)} ms`,
  ].join('\n');
}

/** `x.toFixed(digits)`, with `inf` for Infinity as Python (and so the seed) wrote it. */
export function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : x > 0 ? 'inf' : Number.isNaN(x) ? 'nan' : '-inf';
}

/** `2025-11-12 14:12:51` in local time (with `.mmm` when `millis`). */
export function localTimestamp(at: Date, millis = false): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const s = `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())} ${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}`;
  return millis ? `${s}.${p(at.getMilliseconds(), 3)}` : s;
}
