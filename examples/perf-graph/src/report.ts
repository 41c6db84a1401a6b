/** The end of a run: the seed's summary block, the CSV rows, and the optional SVG and PNG charts. */
import { writeFile } from 'node:fs/promises';
import { type MeasureSummary, summarize } from 'fileshare';
import { appendDetailRows, appendSummaryRow } from './csv.ts';
import { renderPng } from './png.ts';
import type { RunResult } from './run.ts';
import { formatDetails, formatSummary, localTimestamp } from './summary.ts';
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

/** Print the summary and write the files; returns false when a file could not be written. */
export async function report(result: RunResult, summary: MeasureSummary, at: Date, opts: ReportOptions): Promise<boolean> {
  console.log(`\n${formatSummary(summary, at)}`);
  const details = formatDetails(summary);
  if (details) console.log(details);
  let ok = true;
  const step = async (what: string, action: () => Promise<string>) => {
    try {
      console.log(`${what}: ${await action()}`);
    } catch (err) {
      ok = false;
      console.error(`perf-graph: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await step('summary row appended to', () => appendSummaryRow(opts.outDir, summary, at));
  if (result.points.length > 0) await step('ping rows appended to', () => appendDetailRows(opts.outDir, result.points, at));
  if (opts.svg || opts.png) {
    const size = { width: 960, height: 460 };
    const svg = renderSvg(result.points, { ...size, throughput: opts.load, title: `fileshare latency: ${opts.target}`, subtitle: subtitle(summary, at) });
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
