/**
 * Resume locks shared by every node, in PostgreSQL: one row per resumable upload in progress,
 * taken with a single upsert that succeeds only when the key is free or its lease lapsed.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { SharedResumeLock, SharedResumeLocks } from 'fileshare';
import type { Leases } from './leases.ts';

/** @internal */
export class PostgresResumeLocks implements SharedResumeLocks {
  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
    private readonly leases: Leases,
    private readonly ready: () => Promise<void>,
    private readonly queryTimeout: number,
  ) {}

  async acquire(key: string): Promise<SharedResumeLock | null> {
    await this.ready();
    const holder = randomUUID();
    const t = this.table;
    const { rowCount } = await this.#query(
      `INSERT INTO ${t} AS l (key, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at WHERE l.expires_at < now()`,
      [key, holder, this.leases.leaseMs],
    );
    if (rowCount !== 1) return null;
    this.leases.add('resume', holder);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.leases.remove('resume', holder);
        // only our own row: after a lapse another node may hold the key now
        await this.#query(`DELETE FROM ${t} WHERE key = $1 AND holder = $2`, [key, holder]).catch(() => {
          /* it lapses after the lease */
        });
      },
    };
  }

  #query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    return this.pool.query({ text, values, query_timeout: this.queryTimeout } as pg.QueryConfig);
  }
}
