/**
 * Output: an aligned table on stdout (one row per metric and system: median [min–max] over the runs,
 * the ratio of the median to the bare pipe's (the TLS pipe's for a TLS system) and to OpenSSH sftp's,
 * and the target checks for the systems under test), a summary of every target with ok/MISS, and
 * the same figures, with every sample and the run's context, as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { meets } from './results.ts';
import type { Bound, Metric, Recorder, Row, Target } from './results.ts';
import { summarize } from './stats.ts';
import { BASELINE_ID, PEER_ID, SYSTEMS, referenceFor } from './systems.ts';

/** Three significant figures or so, thousands grouped; '–' for no value. */
export function formatNumber(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  const digits = Number.isInteger(value) || abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatRatio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '' : `${value.toFixed(2)}x`;
}

const labelOf = (id: string): string => SYSTEMS.find((s) => s.id === id)?.label ?? id;
const underTest = (id: string): boolean => SYSTEMS.find((s) => s.id === id)?.underTest ?? false;
const systemOrder = (id: string): number => {
  const i = SYSTEMS.findIndex((s) => s.id === id);
  return i < 0 ? SYSTEMS.length : i;
};

interface Figures {
  readonly row: Row;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly vsRaw: number | undefined;
  readonly vsFtp: number | undefined;
  /** Each target bound with its verdict (undefined: the reference figure is missing). */
  readonly checks: readonly { readonly label: string; readonly ok: boolean | undefined }[];
}

function boundLabel([op, limit]: Bound, suffix: string): string {
  return `${op === '>=' ? '≥' : '≤'}${formatNumber(limit)}${suffix}`;
}

function targetLabel(t: Target, system: string): string {
  if (t.vs === undefined) return boundLabel(t.bound, '');
  return boundLabel(t.bound, `x ${referenceFor(t.vs, system)}${t.of ? ` ${t.of.name.replace(/ files\/s/, '')}` : ''}`);
}

function figures(recorder: Recorder): Figures[] {
  const metrics: Metric[] = [];
  for (const row of recorder.rows) if (!metrics.includes(row.metric)) metrics.push(row.metric);
  const out: Figures[] = [];
  for (const metric of metrics) {
    const rows = recorder.rows.filter((r) => r.metric === metric).sort((a, b) => systemOrder(a.system) - systemOrder(b.system));
    const reference = (id: string): number | undefined => recorder.summary(metric, id)?.median;
    const ratio = (value: number, ref: number | undefined): number | undefined =>
      ref !== undefined && ref !== 0 ? value / ref : undefined;
    for (const row of rows) {
      const s = summarize(row.samples);
      const vsRaw = ratio(s.median, reference(referenceFor(BASELINE_ID, row.system)));
      const vsFtp = ratio(s.median, reference(PEER_ID));
      const checks: { label: string; ok: boolean | undefined }[] = [];
      if (metric.target !== undefined && underTest(row.system)) {
        for (const t of metric.target) {
          const value =
            t.vs === undefined ? s.median : ratio(s.median, recorder.summary(t.of ?? metric, referenceFor(t.vs, row.system))?.median);
          checks.push({ label: targetLabel(t, row.system), ok: value === undefined ? undefined : meets(value, t.bound) });
        }
      }
      out.push({ row, median: s.median, min: s.min, max: s.max, vsRaw, vsFtp, checks });
    }
  }
  return out;
}

/** Pad cells into aligned columns; numeric columns are right-aligned. */
function align(rows: readonly string[][], rightAligned: readonly boolean[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...r[c]!].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => {
          const pad = ' '.repeat(widths[c]! - [...cell].length);
          return rightAligned[c] ? pad + cell : cell + pad;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The table as text. */
export function renderTable(recorder: Recorder): string {
  const header = ['workload', 'metric', 'system', 'median', '[min – max]', 'runs', 'vs pipe', 'vs sftp', 'target'];
  const lines: string[][] = [header];
  let lastGroup = '';
  for (const f of figures(recorder)) {
    const group = `${f.row.metric.workload}/${f.row.metric.name}`;
    const first = group !== lastGroup;
    lastGroup = group;
    const spread = f.row.samples.length > 1 ? `[${formatNumber(f.min)} – ${formatNumber(f.max)}]` : '';
    const target = f.checks.map((c) => `${c.label} ${c.ok === undefined ? '?' : c.ok ? 'ok' : 'MISS'}`).join(', ');
    lines.push([
      first ? f.row.metric.workload : '',
      first ? f.row.metric.name : '',
      labelOf(f.row.system),
      formatNumber(f.median),
      spread,
      String(f.row.samples.length),
      f.row.system === referenceFor(BASELINE_ID, f.row.system) ? '' : formatRatio(f.vsRaw),
      f.row.system === PEER_ID ? '' : formatRatio(f.vsFtp),
      target,
    ]);
  }
  return align(lines, [false, false, false, true, true, true, true, true, false]);
}

/** Every target of every system under test, one line each, with ok / MISS / ? (reference missing). */
export function renderTargets(recorder: Recorder): string {
  const lines: string[][] = [['target', 'system', 'median', 'verdict']];
  for (const f of figures(recorder)) {
    for (const c of f.checks) {
      lines.push([
        `${f.row.metric.workload} ${f.row.metric.name} ${c.label}`,
        labelOf(f.row.system),
        formatNumber(f.median),
        c.ok === undefined ? '?' : c.ok ? 'ok' : 'MISS',
      ]);
    }
  }
  if (lines.length === 1) return 'targets: none checked';
  return 'targets:\n' + align(lines, [false, false, true, false]);
}

export function renderErrors(recorder: Recorder): string {
  if (recorder.errors.length === 0) return 'errors: none';
  return ['errors:', ...recorder.errors.map((e) => `  ${e.workload} / ${e.system}: ${e.message}`)].join('\n');
}

/** Write the run's figures, samples, errors and context as JSON. */
export async function writeJson(file: string, recorder: Recorder, meta: Record<string, unknown>): Promise<void> {
  const results = figures(recorder).map((f) => ({
    workload: f.row.metric.workload,
    metric: f.row.metric.name,
    system: f.row.system,
    unit: f.row.metric.unit,
    better: f.row.metric.better,
    median: f.median,
    min: f.min,
    max: f.max,
    samples: f.row.samples,
    ratioToPipe: f.vsRaw ?? null,
    ratioToSftp: f.vsFtp ?? null,
    target: f.row.metric.target ?? null,
    targetChecks: f.checks,
    notes: f.row.notes,
  }));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ meta, results, errors: recorder.errors }, null, 2) + '\n');
}
