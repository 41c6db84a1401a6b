/**
 * Pure formatting and parsing helpers: sizes, rates, durations, flag values, tables.
 * No I/O here, so they are trivial to reason about and to reuse.
 */
import { InvalidArgumentError } from 'commander';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/**
 * A byte count for humans, in decimal units (1 MB = 10^6 bytes, like the library's MB/s):
 * `532 B`, `12.3 MB`, `1.50 GB`.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** A transfer rate, `11.7 MB/s` (input in MB/s as the library reports it). */
export function formatRate(mbps: number): string {
  if (!Number.isFinite(mbps)) return '- MB/s';
  return `${mbps >= 100 ? mbps.toFixed(0) : mbps >= 10 ? mbps.toFixed(1) : mbps.toFixed(2)} MB/s`;
}

/** A duration, `850 ms` or `12.4 s`. */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** `host:port`, with brackets around IPv6 addresses (`[fe80::1%eth0]:4450`). */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Drop the `::ffff:` prefix of IPv4-mapped IPv6 addresses: clients on a `::` server look like IPv4. */
export function displayAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Local time, ISO-like and sortable: `2025-03-14 09:26:53`. */
export function timestamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/** A plain-text table with a header row, columns padded to the widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

// ---- flag value parsers: they throw commander's InvalidArgumentError, which it prints as one line ----

/** `--port`: an integer 0-65535 (0 picks a free port). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65535) throw new InvalidArgumentError('expected a port number 0-65535.');
  return port;
}

/** A positive whole number (`--max-connections`, `--days`). */
export function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

/** Seconds, fractions allowed (`--idle-timeout 300`, `--close-timeout 2.5`); returns seconds. */
export function parseSeconds(value: string): number {
  const s = Number(value);
  if (value.trim() === '' || !Number.isFinite(s) || s <= 0 || s > 24 * 3600 * 365) {
    throw new InvalidArgumentError('expected a number of seconds greater than 0.');
  }
  return s;
}

const SIZE_FACTORS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * A size: `500M`, `10G`, `1.5GB`, `2GiB`, `123456`. Decimal units like the rest of the app
 * (1G = 10^9 bytes); `KiB`/`MiB`/`GiB`/`TiB` for powers of 1024.
 */
export function parseSize(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const factor = match ? SIZE_FACTORS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) throw new InvalidArgumentError('expected a size such as 500M, 10G or 2GiB.');
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('size too large.');
  return bytes;
}

/**
 * Make a client-supplied string (username, path) safe to print on one log line: control
 * characters (newlines, escape sequences) are shown as `\xNN`, so nobody can forge log lines.
 */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
