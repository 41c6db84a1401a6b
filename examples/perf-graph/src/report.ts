/** The end of a run: the seed's summary block, the CSV rows, and the optional SVG and PNG charts. */
import { writeFile } from 'node:fs/promises';
import { type MeasureSummary, type UdpSummary, summarize } from 'fileshare';
import { appendDetailRows, appendSummaryRow } from './csv.ts';
import { renderPng } from './png.ts';
import type { RunResult } from './run.ts';
import { formatDetails, formatSummary, formatUdp, localTimestamp } from './summary.ts';
import { renderSvg } from './svg.ts';

export interface ReportOptions {
  readonly outDir: string;
  readonly svg?: string;
  readonly png?: string;
  readonly chromium: string;
  /** Chart title, e.g. `alice@127.0.0.1:4450`. */
  readonly target: string;
  readonly load: boolean;
}

/**
 * A run that could not start counts every planned ping as lost, as the seed recorded it
 * (`inf,0,100,0,N`).
 */
export function summaryOf(result: RunResult, at: Date): MeasureSummary {
  const samples = result.failure !== undefined ? new Array<null>(result.planned).fill(null) : result.points.map((p) => p.rttMs);
  return summarize(samples, result.throughputMBps, at);
}

/**
 * The UDP probes' figures of the run, from its points (each probe paired with its ping) and the
 * probe runs (late, duplicated and reordered probes are counted by the library).
 */
export function udpSummaryOf(result: RunResult): UdpSummary {
  const probed = result.points.filter((p) => p.udpRttMs !== undefined);
  if (result.failure !== undefined) return { available: false, sent: 0, reason: 'the run could not start' };
  if (probed.length === 0) return { available: false, sent: 0, reason: result.udp?.unavailable ?? 'no UDP probe was sent' };
  const ok = probed.map((p) => p.udpRttMs).filter((x): x is number => x !== null && x !== undefined);
  if (ok.length === 0) {
    return {
      available: false,
      sent: probed.length,
      reason: `none of ${probed.length} UDP probes was answered: UDP is blocked (firewall, NAT) or the path drops everything`,
    };
  }
  const sorted = [...ok].sort((a, b) => a - b);
  let jitter = 0;
  for (let i = 1; i < ok.length; i++) jitter += (Math.abs(ok[i]! - ok[i - 1]!) - jitter) / 16;
  const runs = (result.udp?.runs ?? []).filter((r) => r.available);
  const sum = (f: (r: (typeof runs)[number] & { available: true }) => number) => runs.reduce((n, r) => n + (r.available ? f(r) : 0), 0);
  const q = (x: number) => {
    const pos = (sorted.length - 1) * x;
    return sorted[Math.floor(pos)]! + (sorted[Math.ceil(pos)]! - sorted[Math.floor(pos)]!) * (pos - Math.floor(pos));
  };
  return {
    available: true,
    sent: probed.length,
    received: ok.length,
    lost: probed.length - ok.length,
    lossPercent: ((probed.length - ok.length) / probed.length) * 100,
    late: sum((r) => r.late),
    duplicated: sum((r) => r.duplicated),
    reordered: sum((r) => r.reordered),
    rtt: { min: sorted[0]!, avg: ok.reduce((a, b) => a + b, 0) / ok.length, p50: q(0.5), p95: q(0.95), max: sorted[sorted.length - 1]! },
    jitterMs: jitter,
    sizeBytes: runs.find((r) => r.available)?.sizeBytes ?? 64,
    samples: probed.map((p) => p.udpRttMs ?? null),
  };
}

/** Print the summary and write the files; returns false when a file could not be written. */
export async function report(result: RunResult, summary: MeasureSummary, at: Date, opts: ReportOptions): Promise<boolean> {
  console.log(`\n${formatSummary(summary, at)}`);
  const details = formatDetails(summary);
  if (details) console.log(details);
  const udp = udpSummaryOf(result);
  console.log(formatUdp(udp));
  let ok = true;
  const step = async (what: string, action: () => Promise<string>) => {
    try {
      console.log(`${what}: ${await action()}`);
    } catch (err) {
      ok = false;
      console.error(`perf-graph: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await step('summary row appended to', () => appendSummaryRow(opts.outDir, summary, at, udp));
  if (result.points.length > 0) await step('ping rows appended to', () => appendDetailRows(opts.outDir, result.points, at));
  if (opts.svg || opts.png) {
    const size = { width: 960, height: 460 };
    const svg = renderSvg(result.points, {
      ...size,
      throughput: opts.load,
      title: `fileshare latency: ${opts.target}`,
      subtitle: subtitle(summary, at),
    });
    if (opts.svg) await step('chart saved as', async () => (await writeFile(opts.svg!, svg), opts.svg!));
    if (opts.png) await step('chart saved as', async () => (await renderPng(svg, opts.png!, size, opts.chromium), opts.png!));
  }
  return ok;
}

function subtitle(s: MeasureSummary, at: Date): string {
  const avg = Number.isFinite(s.averageLatencyMs) ? `${s.averageLatencyMs.toFixed(2)} ms` : 'inf';
  const p95 = Number.isFinite(s.p95LatencyMs) ? `, p95 ${s.p95LatencyMs.toFixed(2)} ms` : '';
  return `${localTimestamp(at)}: average ${avg}${p95}, loss ${s.packetLossPercent.toFixed(1)} % (${s.successfulPings} / ${s.totalPings} answered), throughput ${s.throughputMBps.toFixed(2)} MB/s`;
}
