/**
 * The two CSV files the seed's performance module kept, appended to run after run:
 * - network_summary.csv: one row per run (the seed's columns, then the UDP probes'; a failed run is
 *   `inf,0,100,0,N,...`);
 * - latency_details.csv: one row per ping (then its UDP probe).
 * A file begun by an older version, with only the seed's columns, keeps them: rows appended to it
 * leave the new columns out, so that every row of a file matches its header.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, link, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MeasureSummary, UdpSummary } from 'fileshare';
import type { Point } from './stats.ts';
import { localTimestamp } from './summary.ts';

export const SUMMARY_FILE = 'network_summary.csv';
export const DETAILS_FILE = 'latency_details.csv';
/** The seed's columns. */
export const SEED_SUMMARY_HEADER = 'Average_Latency_ms,Throughput_MBps,Packet_Loss_percent,Successful_Pings,Total_Pings,Timestamp';
export const SEED_DETAILS_HEADER = 'Run_Timestamp,Seq,Sent_At,Latency_ms,Lost';
/** The UDP probes' columns, after the seed's: empty when no probe was answered (`UDP_Available` 0). */
export const SUMMARY_HEADER = `${SEED_SUMMARY_HEADER},UDP_Available,UDP_Loss_percent,UDP_Received,UDP_Sent,UDP_Average_ms,UDP_P95_ms,UDP_Jitter_ms`;
export const DETAILS_HEADER = `${SEED_DETAILS_HEADER},UDP_Latency_ms,UDP_Lost`;

/** Append the run's row to `dir`/network_summary.csv; returns the file's path. */
export async function appendSummaryRow(dir: string, summary: MeasureSummary, at: Date, udp?: UdpSummary): Promise<string> {
  const seed = [
    num(summary.averageLatencyMs),
    num(summary.throughputMBps),
    num(summary.packetLossPercent),
    summary.successfulPings,
    summary.totalPings,
    localTimestamp(at),
  ];
  const probes = udp?.available
    ? [1, num(udp.lossPercent), udp.received, udp.sent, num(udp.rtt.avg), num(udp.rtt.p95), num(udp.jitterMs)]
    : [0, '', '', udp?.sent ?? 0, '', '', ''];
  return append(dir, SUMMARY_FILE, SUMMARY_HEADER, SEED_SUMMARY_HEADER, [[...seed, ...probes]], seed.length);
}

/**
 * Append one row per ping to `dir`/latency_details.csv (`Latency_ms` empty and `Lost` 1 for a lost
 * ping; the UDP columns empty for a ping without a probe).
 */
export async function appendDetailRows(dir: string, points: readonly Point[], at: Date): Promise<string> {
  const run = localTimestamp(at);
  const rows = points.map((p) => [
    run,
    p.seq,
    localTimestamp(new Date(p.sentAt), true),
    p.rttMs === null ? '' : num(p.rttMs),
    p.rttMs === null ? 1 : 0,
    p.udpRttMs === undefined || p.udpRttMs === null ? '' : num(p.udpRttMs),
    p.udpRttMs === undefined ? '' : p.udpRttMs === null ? 1 : 0,
  ]);
  return append(dir, DETAILS_FILE, DETAILS_HEADER, SEED_DETAILS_HEADER, rows, 5);
}

/** The header line of an existing file (its first line), or undefined when it has none. */
async function headerOf(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(1024), 0, 1024, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const end = text.indexOf('\n');
    return end < 0 ? undefined : text.slice(0, end).replace(/\r$/, '');
  } finally {
    await handle.close();
  }
}

async function append(
  dir: string,
  name: string,
  header: string,
  seedHeader: string,
  cells: ReadonlyArray<ReadonlyArray<string | number>>,
  seedColumns: number,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, name);
  const size = await stat(file).then(
    (s) => s.size,
    () => -1,
  );
  // a file with only the seed's columns gets rows with only those
  const seedOnly = size > 0 && (await headerOf(file)) === seedHeader;
  const rows = cells.map((row) => (seedOnly ? row.slice(0, seedColumns) : row).join(','));
  const body = rows.map((l) => `${l}\n`).join('');
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
