/** Parsing and validation of the command-line values (sizes, counts, durations). */
import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `64M`, `1.5G`, `512K`, `1048576`, `8MiB`, `8MB` → bytes (binary units: 1M = 1,048,576 bytes). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected a size such as 64M, 512K or 1048576, got "${text}"`);
  const bytes = Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`size too large: "${text}"`);
  return bytes;
}

/** A whole number ≥ `min`. */
export function integer(min: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${text}"`);
    return n;
  };
}

/** A number > 0 (seconds may be fractional). */
export function positiveNumber(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number > 0, got "${text}"`);
  return n;
}

/** A TCP port, 0 allowed (= any free port) when `allowZero`. */
export function port(allowZero: boolean): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) {
      throw new InvalidArgumentError(`expected a port ${allowZero ? '0' : '1'}-65535, got "${text}"`);
    }
    return n;
  };
}

/** `8388608` → `8 MiB`, for messages. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} B`;
}
