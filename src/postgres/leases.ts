/**
 * The rows this node holds under a lease (quota holders, resume locks), renewed together every
 * third of the lease: one UPDATE per table per period, however many uploads run. A node that
 * dies (or loses the database) stops renewing, and its rows lapse for the other nodes.
 * @module
 */
import type pg from 'pg';

/** What a lease covers, by table. @internal */
export type LeaseKind = 'quota' | 'resume';

/** @internal */
export class Leases {
  readonly #held: Record<LeaseKind, Set<string>> = { quota: new Set(), resume: new Set() };
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;

  constructor(
    private readonly pool: pg.Pool,
    /** The table of each kind and its id column. */
    private readonly tables: Record<LeaseKind, { table: string; id: string }>,
    readonly leaseMs: number,
    private readonly queryTimeout: number,
    /** A renewal that failed (the rows lapse if it keeps failing). */
    private readonly onError: (err: Error) => void,
  ) {}

  add(kind: LeaseKind, id: string): void {
    this.#held[kind].add(id);
    this.#timer ??= setInterval(() => void this.renew(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.#timer.unref();
  }

  /** Whether this node holds (and renews) `id`. */
  has(kind: LeaseKind, id: string): boolean {
    return this.#held[kind].has(id);
  }

  remove(kind: LeaseKind, id: string): void {
    this.#held[kind].delete(id);
    if (this.#held.quota.size === 0 && this.#held.resume.size === 0) this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Push the expiry of every held row one lease ahead. */
  async renew(): Promise<void> {
    if (this.#renewing) return;
    this.#renewing = true;
    try {
      for (const kind of ['quota', 'resume'] as const) {
        const ids = [...this.#held[kind]];
        if (ids.length === 0) continue;
        const { table, id } = this.tables[kind];
        // rows a transaction holds right now are skipped, not waited for (no lock-order deadlock
        // with it): a quota holder's own changes renew its lease, and the next period comes soon
        await this.pool.query({
          text: `UPDATE ${table} SET expires_at = now() + $2 * interval '1 millisecond'
                 WHERE ${id} IN (SELECT ${id} FROM ${table} WHERE ${id} = ANY($1) FOR UPDATE SKIP LOCKED)`,
          values: [ids, this.leaseMs],
          query_timeout: this.queryTimeout,
        } as pg.QueryConfig);
      }
    } catch (err) {
      this.onError(err as Error);
    } finally {
      this.#renewing = false;
    }
  }
}
