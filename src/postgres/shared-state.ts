/**
 * The state several fileshare nodes share, in PostgreSQL: login failures, quota reservations and
 * resume locks, each changed by atomic statements or row-locked transactions with the database's
 * clock, so every node sees the same state whatever its own clock says.
 * @module
 */
import pg from 'pg';
import type { LoginThrottleOptions, SharedLoginThrottle, SharedQuotas, SharedResumeLocks, SharedState } from 'fileshare';
import { Leases } from './leases.ts';
import { migrate, quoteIdent } from './migration.ts';
import { PostgresQuotas } from './quotas.ts';
import { PostgresResumeLocks } from './resume-locks.ts';

/** Options of {@link PostgresSharedState}. */
export interface PostgresSharedStateOptions {
  /** A `pg` pool to use (not ended by `close()`), or a connection string for a pool of its own. */
  readonly pool: pg.Pool | string;
  /** Schema holding the fileshare tables. @default 'public' */
  readonly schema?: string;
  /** Run {@link migrate} before the first query. @default true */
  readonly migrate?: boolean;
  /** Longest wait for one query, ms; a slower database fails the login (or upload) with `EIO`. @default 5000 */
  readonly queryTimeout?: number;
  /**
   * Lease of a quota reservation or resume lock, ms: this node renews its rows every third of it;
   * rows of a node that stopped renewing (it died, or lost the database) lapse after it, so
   * another node may take over its resumable upload. @default 30000
   */
  readonly leaseTtl?: number;
  /** Called when renewing this node's leases failed (they lapse if it keeps failing). Default: ignored. */
  readonly onError?: (err: Error) => void;
}

/**
 * {@link SharedState} in PostgreSQL: give the same instance (or one per node over the same
 * database) to every server as `sharedState`. A brute-force attempt spread over the nodes is
 * throttled as if it hit one; a user's quota holds across all nodes (uploads through different
 * nodes share one account); a resumable upload runs on one node at a time.
 *
 * @example
 * ```ts
 * const shared = new PostgresSharedState({ pool: process.env.DATABASE_URL! });
 * const server = new FileShareServer({ root: storage, auth, sharedState: shared });
 * // ...
 * await server.close();
 * await shared.close();
 * ```
 */
export class PostgresSharedState implements SharedState, SharedLoginThrottle {
  /** Quota reservations shared by every node (tables `fileshare_quota_accounts`, `fileshare_quota_holders`). */
  readonly quotas: SharedQuotas;
  /** Resume locks shared by every node (table `fileshare_resume_locks`). */
  readonly resumeLocks: SharedResumeLocks;
  readonly #leases: Leases;
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #schema: string;
  readonly #table: string;
  readonly #timeout: number;
  #ready: Promise<void> | undefined;

  /**
   * @param options - see {@link PostgresSharedStateOptions}
   * @throws TypeError for a missing pool or a bad schema name
   */
  constructor(options: PostgresSharedStateOptions) {
    if (typeof options !== 'object' || options === null || !options.pool)
      throw new TypeError('PostgresSharedState: options.pool is required');
    this.#ownsPool = typeof options.pool === 'string';
    this.#timeout = options.queryTimeout ?? 5000;
    this.#pool =
      typeof options.pool === 'string'
        ? new pg.Pool({ connectionString: options.pool, max: 10, query_timeout: this.#timeout, connectionTimeoutMillis: this.#timeout })
        : options.pool;
    if (this.#ownsPool) this.#pool.on('error', () => {});
    this.#schema = options.schema ?? 'public';
    this.#table = `${quoteIdent(this.#schema)}.fileshare_login_failures`;
    if (options.migrate === false) this.#ready = Promise.resolve();
    const leaseMs = options.leaseTtl ?? 30_000;
    if (!Number.isInteger(leaseMs) || leaseMs < 300 || leaseMs > 86_400_000)
      throw new TypeError(`PostgresSharedState: options.leaseTtl must be an integer from 300 to 86400000 ms, got ${String(leaseMs)}`);
    const s = quoteIdent(this.#schema);
    const onError = options.onError ?? (() => {});
    this.#leases = new Leases(
      this.#pool,
      { quota: { table: `${s}.fileshare_quota_holders`, id: 'id' }, resume: { table: `${s}.fileshare_resume_locks`, id: 'holder' } },
      leaseMs,
      this.#timeout,
      onError,
    );
    const ready = () => this.ready();
    this.quotas = new PostgresQuotas(
      this.#pool,
      { accounts: `${s}.fileshare_quota_accounts`, holders: `${s}.fileshare_quota_holders` },
      this.#leases,
      leaseMs,
      ready,
      this.#timeout,
    );
    this.resumeLocks = new PostgresResumeLocks(this.#pool, `${s}.fileshare_resume_locks`, this.#leases, ready, this.#timeout);
  }

  /** This object: the login throttle shared by every node. */
  get loginThrottle(): SharedLoginThrottle {
    return this;
  }

  /** Create the tables if needed (done before the first query unless `migrate: false`). */
  ready(): Promise<void> {
    this.#ready ??= migrate(this.#pool, { schema: this.#schema }).then(
      () => undefined,
      (err: unknown) => {
        this.#ready = undefined;
        throw err;
      },
    );
    return this.#ready;
  }

  /** Milliseconds until any of `keys` may try again, by the database's clock. */
  async loginDelay(keys: readonly string[]): Promise<number> {
    await this.ready();
    const { rows } = await this.#query<{ wait: string | null }>(
      `SELECT ceil(greatest(0, max(extract(epoch FROM blocked_until - now()) * 1000))) AS wait FROM ${this.#table} WHERE key = ANY($1)`,
      [keys],
    );
    return Number(rows[0]?.wait ?? 0);
  }

  /**
   * Count a failure for each key in one atomic upsert: the count restarts once the previous
   * failures are forgotten, then the delay doubles from `baseDelay` up to `maxDelay`, and
   * `lockoutAfter` failures lock the key out for `lockout`.
   */
  async recordLoginFailure(keys: readonly string[], settings: Required<LoginThrottleOptions>): Promise<void> {
    await this.ready();
    const t = this.#table;
    const fresh = `(now() - f.last_failure > $2 * interval '1 millisecond' AND now() >= f.blocked_until)`;
    const count = `(CASE WHEN ${fresh} THEN 1 ELSE f.failures + 1 END)`;
    const delay = (n: string) =>
      `(CASE WHEN ${n} >= $3 THEN $4::float8 WHEN ${n} >= $5 THEN least($6::float8, $7::float8 * power(2, least(30, ${n} - $5))) ELSE 0 END) * interval '1 millisecond'`;
    await this.#query(
      `INSERT INTO ${t} AS f (key, failures, blocked_until, last_failure)
         SELECT k, 1, now() + ${delay('1')}, now() FROM unnest($1::text[]) AS k
       ON CONFLICT (key) DO UPDATE SET failures = ${count}, blocked_until = now() + ${delay(count)}, last_failure = now()`,
      [keys, settings.forgetAfter, settings.lockoutAfter, settings.lockout, settings.freeAttempts, settings.maxDelay, settings.baseDelay],
    );
    // old records are dropped now and then, so the table holds only the recent attackers
    if (Math.random() < 0.01) {
      await this.#query(`DELETE FROM ${t} WHERE last_failure < now() - $1 * interval '1 millisecond' AND blocked_until < now()`, [
        settings.forgetAfter,
      ]);
    }
  }

  /** Forget the failures of `keys` (a successful login). */
  async clearLoginFailures(keys: readonly string[]): Promise<void> {
    await this.ready();
    await this.#query(`DELETE FROM ${this.#table} WHERE key = ANY($1)`, [keys]);
  }

  /** Stop renewing leases, and end the pool if this object made it. Close the servers first. */
  async close(): Promise<void> {
    this.#leases.stop();
    if (this.#ownsPool) await this.#pool.end();
  }

  #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>({ text, values, ...(this.#ownsPool ? {} : { query_timeout: this.#timeout }) } as pg.QueryConfig);
  }
}
