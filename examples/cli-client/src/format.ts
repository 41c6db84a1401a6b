/** Human-readable sizes, durations and rates (SI units: 1 MB = 10^6 bytes, like the library's MB/s). */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** `512 B`, `12.3 MB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

/** `0.04 s`, `12.3 s`, `2m05s`. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 1) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const minutes = Math.floor(s / 60);
  return `${minutes}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** Average rate of `bytes` over `ms`: `30.1 MB/s`. */
export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0) return '-';
  return `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

/** A SHA-256 shortened for display: `ab12cd34ef56…`. */
export function shortHash(sha256: string): string {
  return `${sha256.slice(0, 12)}…`;
}

/** `2024-05-01 12:34` in local time, for listings. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
