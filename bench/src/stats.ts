/**
 * Summary statistics for benchmark samples: median, min, max and percentiles.
 * Pure functions, no I/O.
 */

/** A summarised series: the median with the spread it came from. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** Values sorted ascending, as a new array; NaN and infinities are dropped. */
export function sorted(values: readonly number[]): number[] {
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * The p-th percentile (0..100) of already sorted values, by linear interpolation between the two
 * nearest ranks (the same definition as numpy's default). NaN for an empty series.
 */
export function percentileOfSorted(ascending: readonly number[], p: number): number {
  if (ascending.length === 0) return Number.NaN;
  if (p <= 0) return ascending[0]!;
  if (p >= 100) return ascending[ascending.length - 1]!;
  const rank = (p / 100) * (ascending.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = ascending[lo]!;
  const b = ascending[hi]!;
  return a + (b - a) * (rank - lo);
}

/** The p-th percentile (0..100) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  return percentileOfSorted(sorted(values), p);
}

/** The median of unsorted values; NaN for an empty series. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Median, min and max of the finite values in a series. */
export function summarize(values: readonly number[]): Summary {
  const s = sorted(values);
  return {
    median: percentileOfSorted(s, 50),
    min: s.length > 0 ? s[0]! : Number.NaN,
    max: s.length > 0 ? s[s.length - 1]! : Number.NaN,
    n: s.length,
  };
}

/** p50 and p99 of a latency series, plus the count and the maximum. */
export interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly n: number;
}

/** Latency percentiles of a sample series (any unit; the caller's unit is kept). */
export function latency(samples: readonly number[]): Latency {
  const s = sorted(samples);
  return {
    p50: percentileOfSorted(s, 50),
    p99: percentileOfSorted(s, 99),
    max: s.length > 0 ? s[s.length - 1]! : Number.NaN,
    n: s.length,
  };
}

/** Megabytes (10^6 bytes) per second. */
export function mbPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : Number.NaN;
}
