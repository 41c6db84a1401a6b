/**
 * The chart as a standalone SVG, drawn in Node from the points: axes with ticks, the latency
 * polyline (broken at lost pings), its rolling average, red markers at the top for lost pings, and
 * the load's throughput on a second axis; with UDP probes, their round trips and their loss over
 * the last second (scaled to the plot's height: 0 at the bottom, its maximum labelled inside the
 * right edge).
 */
import type { Point } from './stats.ts';

export interface SvgOptions {
  readonly title: string;
  readonly subtitle?: string;
  /** Draw the throughput line and its axis. */
  readonly throughput: boolean;
  readonly width?: number;
  readonly height?: number;
}

const COLORS = {
  latency: '#2563eb',
  avg: '#f59e0b',
  lost: '#dc2626',
  mbps: '#16a34a',
  udp: '#7c3aed',
  udpLoss: '#dc2626',
  axis: '#374151',
  grid: '#e5e7eb',
};

export function renderSvg(points: readonly Point[], opts: SvgOptions): string {
  const W = opts.width ?? 960;
  const H = opts.height ?? 460;
  const m = { left: 64, right: opts.throughput ? 70 : 24, top: 70, bottom: 48 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const tMax = Math.max(
    1,
    maxOf(points, (p) => p.t),
  );
  const msMax = roundUp(maxOf(points, (p) => Math.max(p.rttMs ?? 0, p.avgMs ?? 0, p.udpRttMs ?? 0)) * 1.05);
  const probes = points.some((p) => p.udpRttMs !== undefined);
  const pctMax = Math.min(100, roundUp(Math.max(10, maxOf(points, (p) => p.udpLossRate ?? 0) * 1.15)));
  const mbMax = roundUp(maxOf(points, (p) => p.mbps ?? 0) * 1.05);
  const x = (t: number) => m.left + (t / tMax) * pw;
  const y = (v: number, max: number) => m.top + ph - (v / max) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${m.left}" y="24" font-size="16" font-weight="600" fill="${COLORS.axis}">${esc(opts.title)}</text>`);
  if (opts.subtitle) out.push(`<text x="${m.left}" y="42" fill="#6b7280">${esc(opts.subtitle)}</text>`);
  // grid and axes
  for (const v of ticks(msMax)) {
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${f(y(v, msMax))}" y2="${f(y(v, msMax))}" stroke="${COLORS.grid}"/>`);
    out.push(`<text x="${m.left - 6}" y="${f(y(v, msMax) + 4)}" text-anchor="end" fill="${COLORS.axis}">${label(v)}</text>`);
  }
  for (const v of ticks(tMax)) {
    out.push(`<line x1="${f(x(v))}" x2="${f(x(v))}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="${COLORS.axis}"/>`);
    out.push(`<text x="${f(x(v))}" y="${m.top + ph + 18}" text-anchor="middle" fill="${COLORS.axis}">${label(v)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="${COLORS.axis}"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle" fill="${COLORS.axis}">seconds</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="${COLORS.axis}">latency (ms)</text>`);
  if (opts.throughput) {
    for (const v of ticks(mbMax)) {
      out.push(`<text x="${m.left + pw + 6}" y="${f(y(v, mbMax) + 4)}" fill="${COLORS.mbps}">${label(v)}</text>`);
    }
    out.push(
      `<text transform="translate(${W - 14} ${m.top + ph / 2}) rotate(90)" text-anchor="middle" fill="${COLORS.mbps}">throughput (MB/s)</text>`,
    );
    out.push(
      polylines(
        points.map((p) => (p.mbps === null ? null : [x(p.t), y(p.mbps, mbMax)])),
        COLORS.mbps,
        1.5,
        'throughput',
      ),
    );
  }
  if (probes) {
    out.push(
      polylines(
        points.map((p) => (p.udpRttMs === undefined || p.udpRttMs === null ? null : [x(p.t), y(p.udpRttMs, msMax)])),
        COLORS.udp,
        1,
        'udp-latency',
      ),
    );
    out.push(
      `<text x="${m.left + pw - 4}" y="${m.top + 14}" text-anchor="end" fill="${COLORS.udpLoss}">UDP loss ${label(pctMax)} %</text>`,
    );
    out.push(`<text x="${m.left + pw - 4}" y="${m.top + ph - 4}" text-anchor="end" fill="${COLORS.udpLoss}">0 %</text>`);
    const lossLine = polylines(
      points.map((p) => (p.udpLossRate === undefined ? null : [x(p.t), y(p.udpLossRate, pctMax)])),
      COLORS.udpLoss,
      2,
      'udp-loss',
    );
    out.push(lossLine.replace('stroke-linejoin="round"', 'stroke-linejoin="round" stroke-dasharray="6 3"'));
  }
  out.push(
    polylines(
      points.map((p) => (p.rttMs === null ? null : [x(p.t), y(p.rttMs, msMax)])),
      COLORS.latency,
      1.2,
      'latency',
    ),
  );
  out.push(
    polylines(
      points.map((p) => (p.avgMs === null ? null : [x(p.t), y(p.avgMs, msMax)])),
      COLORS.avg,
      2,
      'rolling-average',
    ),
  );
  const lost = points.filter((p) => p.rttMs === null);
  out.push(`<g class="lost" fill="${COLORS.lost}">`);
  for (const p of lost) out.push(`<path d="M${f(x(p.t) - 5)} ${m.top + 2}h10l-5 9z"><title>ping ${p.seq} lost</title></path>`);
  out.push('</g>');
  out.push(legend(W - m.right, 58, opts.throughput, probes));
  if (points.length === 0)
    out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle" fill="#6b7280">no pings</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** One `<polyline>` per run of consecutive points (a `null` breaks the line). */
function polylines(coords: ReadonlyArray<readonly [number, number] | null>, color: string, width: number, cls: string): string {
  const runs: string[][] = [[]];
  for (const c of coords) {
    if (c === null) runs.push([]);
    else runs[runs.length - 1]!.push(`${f(c[0])},${f(c[1])}`);
  }
  const lines = runs
    .filter((r) => r.length > 0)
    .map((r) =>
      r.length === 1
        ? `<circle cx="${r[0]!.split(',')[0]}" cy="${r[0]!.split(',')[1]}" r="1.5" fill="${color}"/>`
        : `<polyline points="${r.join(' ')}"/>`,
    );
  return `<g class="${cls}" fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round">${lines.join('')}</g>`;
}

function legend(right: number, yPos: number, throughput: boolean, probes: boolean): string {
  const items: Array<[string, string, string]> = [
    ['latency', COLORS.latency, 'line'],
    ['rolling average', COLORS.avg, 'line'],
    ['lost ping', COLORS.lost, 'marker'],
  ];
  if (probes) items.push(['UDP latency', COLORS.udp, 'line'], ['UDP loss, 1 s', COLORS.udpLoss, 'line']);
  if (throughput) items.push(['throughput', COLORS.mbps, 'line']);
  let xPos = right;
  const parts: string[] = [];
  for (const [text, color, kind] of [...items].reverse()) {
    xPos -= text.length * 6.5 + 34;
    const sym =
      kind === 'line'
        ? `<line x1="${f(xPos)}" x2="${f(xPos + 20)}" y1="${yPos - 4}" y2="${yPos - 4}" stroke="${color}" stroke-width="2.5"/>`
        : `<path d="M${f(xPos + 5)} ${yPos - 9}h10l-5 9z" fill="${color}"/>`;
    parts.push(`${sym}<text x="${f(xPos + 25)}" y="${yPos}" fill="#374151">${text}</text>`);
  }
  return `<g class="legend">${parts.join('')}</g>`;
}

/** Largest `value(p)`, 0 for none (no spread: runs can have 100,000 points). */
function maxOf(points: readonly Point[], value: (p: Point) => number): number {
  let max = 0;
  for (const p of points) max = Math.max(max, value(p));
  return max;
}

/** A tick step of 1, 2 or 5 × 10^k giving about five ticks up to `max`. */
function tickStep(max: number): number {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((s) => s * p >= raw * 0.999) ?? 10) * p;
}

/** `v` rounded up to a whole tick step (1 when there is nothing to show). */
function roundUp(v: number): number {
  if (!(v > 0)) return 1;
  const step = tickStep(v);
  return Math.ceil(v / step - 1e-9) * step;
}

/** 0, step, 2·step... up to `max`. */
function ticks(max: number): number[] {
  const step = tickStep(max);
  const out: number[] = [];
  for (let i = 0; i * step <= max * (1 + 1e-9); i++) out.push(i * step);
  return out;
}

function label(v: number): string {
  return String(Number(v.toPrecision(3)));
}

function f(n: number): string {
  return n.toFixed(1);
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
