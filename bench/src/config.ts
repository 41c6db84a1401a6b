/**
 * Run configuration: the full defaults from the benchmark issue, the `--quick` preset (the whole
 * suite in under a minute, for CI), and size parsing for `--size`.
 */

export interface BenchConfig {
  readonly quick: boolean;
  /** Big-file size for throughput and ping-under-load, bytes. */
  readonly size: number;
  /** File size for the memory workload, bytes. */
  readonly memorySize: number;
  /** File size for the s3 workload, bytes (moderate: a full radosgw memory store hangs writes). */
  readonly s3Size: number;
  /** Runs per figure (median, min, max over these). */
  readonly runs: number;
  /** Sequential pings per series. */
  readonly pings: number;
  readonly smallFiles: number;
  readonly smallSize: number;
  /** Connections for "parallel" small files when the API allows one transfer per connection. */
  readonly smallConnections: number;
  readonly clients: number;
  /** Concurrent logins of the big login storm (the small one, for event-loop delay, uses `clients`). */
  readonly loginStorm: number;
  readonly concurrencyFileSize: number;
  /** Upper bound on the time spent on one ping-under-load series, seconds. */
  readonly loadSeconds: number;
  readonly jsonPath: string;
  /** `--only` tokens: system ids/families and workload ids. Empty = everything. */
  readonly only: readonly string[];
  readonly verbose: boolean;
  /** Run workers under tsx instead of transpiling them (their RSS then includes ~38 MB of loader). */
  readonly tsx: boolean;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const FULL = {
  size: GiB,
  memorySize: 2 * GiB,
  s3Size: 256 * MiB,
  runs: 3,
  pings: 2000,
  smallFiles: 1000,
  clients: 200,
  loginStorm: 1000,
  loadSeconds: 120,
} as const;

export const QUICK = {
  size: 64 * MiB,
  memorySize: 64 * MiB,
  s3Size: 16 * MiB,
  runs: 1,
  pings: 200,
  // FTP moves ~20 small files/s one at a time (delayed ACKs, 50 ms polling): 50 keep CI short.
  smallFiles: 50,
  clients: 20,
  loginStorm: 50,
  loadSeconds: 5,
} as const;

export const FIXED = {
  smallSize: 4 * KiB,
  smallConnections: 8,
  concurrencyFileSize: MiB,
} as const;

/** Parse "1G", "256M", "64MiB", "4096", "1.5g" (binary units: K = 1024). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) throw new TypeError(`--size: cannot read "${text}" (try 1G, 256M, 65536)`);
  const unit = { '': 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB }[match[2]!.toLowerCase()]!;
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes < 1) throw new TypeError(`--size: "${text}" is less than one byte`);
  return bytes;
}

/** "1 GiB", "64 MiB", "4 KiB", "1000 B". */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (bytes >= n && bytes % (n / 4) === 0) return `${bytes / n} ${unit}`;
  }
  return `${bytes} B`;
}
