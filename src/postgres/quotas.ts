/**
 * Quota accounts shared by every node, in PostgreSQL: one row per account (the free room, while
 * the account has holders) and one row per holder (an upload in progress on some node). Every
 * change happens in one transaction holding the account row's lock (`SELECT ... FOR UPDATE`), so
 * the nodes see one ledger with the rules of the in-memory one (src/server/quota-ledger.ts).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { FileShareError, type SharedQuotaReservation, type SharedQuotas } from 'fileshare';
import type { Leases } from './leases.ts';

/** How often a waiting stream looks at its verdict (and judges the account again), ms. */
const POLL_MS = 150;
/** Measurements that another node's upload made stale before a stable one is taken. */
const MEASURE_ATTEMPTS = 5;

/** One holder as read from its row. */
interface Holder {
  readonly id: string;
  readonly ord: number;
  reserved: number;
  /** Waiting for room: the totals it asked for (null: not waiting). */
  wantMin: number | null;
  wantMax: number | null;
  /** A waiter that was judged, until it reads the verdict. */
  verdict: 'granted' | 'refused' | null;
  credit: string | null;
  /** Must be written back. */
  dirty?: boolean;
}

/** The account as loaded under its row lock, changed in memory, then written back. */
interface Account {
  /** Null when no holder is left: the next join measures. */
  free: number | null;
  epoch: number;
  nextOrder: number;
  holders: Holder[];
  added: Holder[];
  removed: string[];
}

/** @internal */
export interface QuotaTables {
  readonly accounts: string;
  readonly holders: string;
}

/**
 * {@link SharedQuotas} over two tables. A holder row is renewed by its node every third of the
 * lease; a row not renewed for the lease (its node died, or lost the database) lapses and is
 * deleted by the next change of its account, its reservation left counted until the account is
 * measured again.
 * @internal
 */
export class PostgresQuotas implements SharedQuotas {
  constructor(
    private readonly pool: pg.Pool,
    private readonly tables: QuotaTables,
    private readonly leases: Leases,
    private readonly leaseMs: number,
    private readonly ready: () => Promise<void>,
    private readonly queryTimeout: number,
  ) {}

  async join(name: string, measure: () => Promise<number>): Promise<SharedQuotaReservation> {
    await this.ready();
    // PostgreSQL text holds no NUL (the server's accounts are `user NUL home`): escaped, one to one
    const account = name.replace(/\\/g, '\\\\').replace(/\0/g, '\\0');
    const id = randomUUID();
    try {
      return await this.joinAs(account, id, measure);
    } catch (err) {
      this.leases.remove('quota', id);
      throw err;
    }
  }

  private async joinAs(account: string, id: string, measure: () => Promise<number>): Promise<SharedQuotaReservation> {
    for (let attempt = 0; attempt < MEASURE_ATTEMPTS; attempt++) {
      const seen = await this.change(account, (acc) => (acc.free === null ? acc.epoch : this.addHolder(acc, id)));
      if (seen === true) return this.reservation(account, id);
      // nobody holds the account: measure without holding its lock (a listing may take seconds),
      // then keep the figure only if no upload ended meanwhile on any node (the epoch says)
      const measured = Math.max(0, await measure());
      const joined = await this.change(account, (acc) => {
        if (acc.free === null) {
          if (acc.epoch !== seen) return false;
          acc.free = measured;
        }
        return this.addHolder(acc, id);
      });
      if (joined) return this.reservation(account, id);
    }
    throw new FileShareError('EBUSY', 'the quota account kept changing while it was measured; try again');
  }

  private addHolder(acc: Account, id: string): true {
    const holder: Holder = { id, ord: acc.nextOrder++, reserved: 0, wantMin: null, wantMax: null, verdict: null, credit: null };
    acc.holders.push(holder);
    acc.added.push(holder);
    this.leases.add('quota', id);
    return true;
  }

  private reservation(account: string, id: string): SharedQuotaReservation {
    const mine = (acc: Account): Holder => {
      const holder = acc.holders.find((h) => h.id === id);
      if (!holder) throw new FileShareError('EIO', 'the shared quota reservation lapsed (not renewed within its lease)');
      holder.dirty = true;
      return holder;
    };
    let released = false;
    return {
      reserve: (bytes) =>
        this.change(account, (acc) => {
          const holder = mine(acc);
          if (bytes <= 0) return true;
          if (bytes > acc.free! - promised(acc)) return false;
          acc.free! -= bytes;
          holder.reserved += bytes;
          return true;
        }),
      reserveUpTo: async (min, max, signal) => {
        const first = await this.change(account, (acc): number | 'wait' => {
          const holder = mine(acc);
          if (holder.reserved >= min) return holder.reserved;
          const need = min - holder.reserved;
          if (!acc.holders.some(isWaiting) && need <= acc.free!) {
            const take = Math.min(Math.max(need, max - holder.reserved), acc.free!);
            acc.free! -= take;
            holder.reserved += take;
            return holder.reserved;
          }
          holder.wantMin = min;
          holder.wantMax = Math.max(min, max);
          holder.verdict = null;
          return 'wait';
        });
        if (first !== 'wait') return first;
        // judged by whichever transaction changes the account next; looking also judges it, so a
        // holder that lapsed on a dead node cannot leave the waiters stuck
        for (;;) {
          await sleep(POLL_MS, signal);
          if (signal?.aborted) return false;
          const verdict = await this.change(account, (acc): number | false | 'wait' => {
            const holder = mine(acc);
            if (holder.verdict === null) return 'wait';
            const granted = holder.verdict === 'granted';
            holder.verdict = null;
            return granted ? holder.reserved : false;
          });
          if (verdict !== 'wait') return verdict;
        }
      },
      creditReplaced: (path, bytes) =>
        this.change(account, (acc) => {
          const holder = mine(acc);
          if (bytes <= 0 || holder.credit !== null || acc.holders.some((h) => h.credit === path)) return 0;
          holder.credit = path;
          return bytes;
        }),
      release: async (kept) => {
        if (released) return;
        released = true;
        this.leases.remove('quota', id);
        await this.change(account, (acc) => {
          const at = acc.holders.findIndex((h) => h.id === id);
          if (at < 0) return; // lapsed: its bytes stay counted until the next measurement
          const [holder] = acc.holders.splice(at, 1);
          acc.free! += Math.max(0, holder!.reserved - Math.max(0, kept));
          acc.removed.push(id);
        });
      },
    };
  }

  /**
   * Load `account` under its row lock (lapsed holders dropped), apply `fn`, judge the waiters,
   * write back, commit. Every node's change of one account is serialised here.
   */
  private async change<T>(account: string, fn: (acc: Account) => T): Promise<T> {
    const { accounts, holders } = this.tables;
    const client = await this.pool.connect();
    const query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) =>
      client.query<R>({ text, values, query_timeout: this.queryTimeout } as pg.QueryConfig);
    let broken: Error | undefined;
    try {
      await query('BEGIN');
      await query(`INSERT INTO ${accounts} (account) VALUES ($1) ON CONFLICT DO NOTHING`, [account]);
      const row = (
        await query<{ free: string | null; epoch: string; next_order: string }>(
          `SELECT free, epoch, next_order FROM ${accounts} WHERE account = $1 FOR UPDATE`,
          [account],
        )
      ).rows[0]!;
      const lapsed = (await query(`DELETE FROM ${holders} WHERE account = $1 AND expires_at < now()`, [account])).rowCount ?? 0;
      const rows = (
        await query<{
          id: string;
          ord: string;
          reserved: string;
          want_min: string | null;
          want_max: string | null;
          verdict: 'granted' | 'refused' | null;
          credit: string | null;
        }>(`SELECT id, ord, reserved, want_min, want_max, verdict, credit FROM ${holders} WHERE account = $1 ORDER BY ord`, [account])
      ).rows;
      const acc: Account = {
        free: row.free === null ? null : Number(row.free),
        epoch: Number(row.epoch),
        nextOrder: Number(row.next_order),
        holders: rows.map((r) => ({
          id: r.id,
          ord: Number(r.ord),
          reserved: Number(r.reserved),
          wantMin: r.want_min === null ? null : Number(r.want_min),
          wantMax: r.want_max === null ? null : Number(r.want_max),
          verdict: r.verdict,
          credit: r.credit,
        })),
        added: [],
        removed: [],
      };
      const startEpoch = acc.epoch;
      let result: T;
      try {
        result = fn(acc);
      } catch (err) {
        await query('ROLLBACK');
        throw err;
      }
      if (lapsed > 0 || acc.removed.length > 0) acc.epoch = startEpoch + 1;
      judge(acc);
      if (acc.holders.length === 0) acc.free = null; // measured again at the next join
      await query(`UPDATE ${accounts} SET free = $2, epoch = $3, next_order = $4 WHERE account = $1`, [
        account,
        acc.free,
        acc.epoch,
        acc.nextOrder,
      ]);
      if (acc.removed.length > 0) await query(`DELETE FROM ${holders} WHERE id = ANY($1::uuid[])`, [acc.removed]);
      const lease = `now() + $9 * interval '1 millisecond'`;
      for (const h of acc.holders) {
        const values = [h.id, account, h.ord, h.reserved, h.wantMin, h.wantMax, h.verdict, h.credit, this.leaseMs];
        if (acc.added.includes(h)) {
          await query(
            `INSERT INTO ${holders} (id, account, ord, reserved, want_min, want_max, verdict, credit, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${lease})`,
            values,
          );
        } else if (h.dirty) {
          // a holder of this node is renewed by its own changes too (the periodic renewal skips
          // rows locked here); another node's holder keeps its lease
          const renew = this.leases.has('quota', h.id) ? `, expires_at = now() + $7 * interval '1 millisecond'` : '';
          await query(
            `UPDATE ${holders} SET reserved = $2, want_min = $3, want_max = $4, verdict = $5, credit = $6${renew} WHERE id = $1`,
            [h.id, h.reserved, h.wantMin, h.wantMax, h.verdict, h.credit, ...(renew ? [this.leaseMs] : [])],
          );
        }
      }
      await query('COMMIT');
      return result;
    } catch (err) {
      if (!(err instanceof FileShareError)) {
        broken = err as Error;
        await query('ROLLBACK').catch(() => {});
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

function isWaiting(h: Holder): boolean {
  return h.wantMin !== null;
}

/** Bytes that waiting streams still need: an announced size must not take them. */
function promised(acc: Account): number {
  let total = 0;
  for (const h of acc.holders) if (h.wantMin !== null) total += Math.max(0, h.wantMin - h.reserved);
  return total;
}

/**
 * Serve the waiters in arrival order while what they need fits (a granted one gets up to what it
 * asked at most). When some still wait and no holder is active, none can ever give room back:
 * the last to come is refused, and counts as active until it has released its reservation.
 */
function judge(acc: Account): void {
  if (acc.free === null) return;
  for (;;) {
    const waiters = acc.holders.filter(isWaiting);
    for (const next of waiters) {
      const need = next.wantMin! - next.reserved;
      if (need > acc.free) break;
      const take = Math.min(Math.max(need, next.wantMax! - next.reserved), acc.free);
      acc.free -= take;
      next.reserved += take;
      settle(next, 'granted');
    }
    const still = acc.holders.filter(isWaiting);
    if (still.length === 0 || acc.holders.some((h) => !isWaiting(h))) return;
    settle(still[still.length - 1]!, 'refused');
  }
}

function settle(h: Holder, verdict: 'granted' | 'refused'): void {
  h.wantMin = null;
  h.wantMax = null;
  h.verdict = verdict;
  h.dirty = true;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
