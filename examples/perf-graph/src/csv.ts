/**
 * The two CSV files the seed's performance module kept, appended to run after run:
 * - network_summary.csv: one row per run (the seed's columns; a failed run is `inf,0,100,0,N`);
 * - latency_details.csv: one row per ping.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, link, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MeasureSummary } from 'fileshare';
import type { Point } from './stats.ts';
import { localTimestamp } from './summary.ts';

export const SUMMARY_FILE = 'network_summary.csv';
export const DETAILS_FILE = 'latency_details.csv';
export const SUMMARY_HEADER = 'Average_Latency_ms,Throughput_MBps,Packet_Loss_percent,Successful_Pings,Total_Pings,Timestamp';
export const DETAILS_HEADER = 'Run_Timestamp,Seq,Sent_At,Latency_ms,Lost';

/** Append the run's row to `dir`/network_summary.csv; returns the file's path. */
export async function appendSummaryRow(dir: string, summary: MeasureSummary, at: Date): Promise<string> {
  const row = [
    num(summary.averageLatencyMs),
    num(summary.throughputMBps),
    num(summary.packetLossPercent),
    summary.successfulPings,
    summary.totalPings,
    localTimestamp(at),
  ].join(',');
  return append(dir, SUMMARY_FILE, SUMMARY_HEADER, [row]);
}

/** Append one row per ping to `dir`/latency_details.csv (`Latency_ms` empty and `Lost` 1 for a lost ping). */
export async function appendDetailRows(dir: string, points: readonly Point[], at: Date): Promise<string> {
  const run = localTimestamp(at);
  const rows = points.map((p) => [run, p.seq, localTimestamp(new Date(p.sentAt), true), p.rttMs === null ? '' : num(p.rttMs), p.rttMs === null ? 1 : 0].join(','));
  return append(dir, DETAILS_FILE, DETAILS_HEADER, rows);
}

async function append(dir: string, name: string, header: string, rows: readonly string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, name);
  const body = rows.map((l) => `${l}\n`).join('');
  const size = await stat(file).then((s) => s.size, () => -1);
  if (size > 0) {
    if (body) await appendFile(file, body);
  } else if (size === 0) {
    await appendFile(file, `${header}\n${body}`);
  } else {
    await create(file, header, body);
  }
  return file;
}

/**
 * A new file appears whole, header and rows at once (written aside, then hard-linked into place), so
 * that two runs starting it at the same moment do not both write the header.
 */
async function create(file: string, header: string, body: string): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${header}\n${body}`);
  try {
    await link(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (body) await appendFile(file, body); // another run created it just now
    } else {
      await appendFile(file, `${header}\n${body}`); // no hard links here (EPERM, ENOTSUP...)
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Up to 6 decimals, no trailing zeros; `inf` for Infinity (the seed's failed-run row). */
function num(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : 'nan';
  return String(Number(x.toFixed(6)));
}
