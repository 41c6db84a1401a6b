/**
 * The figures a run collects: for each (workload, metric, system) the value of every run, plus the
 * errors met on the way. Metric definitions carry their unit, which direction is better, and the
 * targets from the benchmark issue.
 */
import { summarize } from './stats.ts';
import type { Summary } from './stats.ts';

export type WorkloadId = 'throughput' | 'ping' | 'small' | 'tree' | 'concurrency' | 'logins' | 'reconnect' | 'memory' | 's3';

/** A bound: `['>=', 0.85]` reads "at least 0.85". */
export type Bound = readonly ['>=' | '<=', number];

export interface Metric {
  readonly workload: WorkloadId;
  /** Unique within the workload, e.g. "upload MB/s". */
  readonly name: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower' | 'none';
  /** Targets for the systems under test, each checked on its own. */
  readonly target?: readonly Target[];
}

/**
 * One target: a bound on the value itself (no `vs`), or on its ratio to a reference system's
 * median. `pipe` and `raw` mean the TLS variant of that baseline for a TLS system. `of` takes the
 * reference's figure from another metric (parallel small files against the pipe's one-at-a-time
 * rate).
 */
export interface Target {
  readonly vs?: 'pipe' | 'raw' | 'sftp' | 'ftp';
  readonly of?: Metric;
  readonly bound: Bound;
}

export interface Row {
  readonly metric: Metric;
  readonly system: string;
  readonly samples: number[];
  /** Free-form context for the JSON (connections used, pings kept, ...), last run wins. */
  notes: Record<string, unknown>;
}

export interface BenchError {
  readonly workload: string;
  readonly system: string;
  readonly message: string;
}

export class Recorder {
  readonly rows: Row[] = [];
  readonly errors: BenchError[] = [];

  add(metric: Metric, system: string, value: number, notes: Record<string, unknown> = {}): void {
    let row = this.rows.find((r) => r.metric === metric && r.system === system);
    if (row === undefined) {
      row = { metric, system, samples: [], notes: {} };
      this.rows.push(row);
    }
    row.samples.push(value);
    row.notes = { ...row.notes, ...notes };
  }

  error(workload: string, system: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.errors.push({ workload, system, message });
  }

  find(metric: Metric, system: string): Row | undefined {
    return this.rows.find((r) => r.metric === metric && r.system === system);
  }

  summary(metric: Metric, system: string): Summary | undefined {
    const row = this.find(metric, system);
    return row && row.samples.length > 0 ? summarize(row.samples) : undefined;
  }
}

/** Check a value against a bound. */
export function meets(value: number, [op, limit]: Bound): boolean {
  return op === '>=' ? value >= limit : value <= limit;
}
