/**
 * Quota accounting shared by a user's concurrent uploads.
 *
 * Checked one by one against the disk usage at its start, each of several concurrent uploads saw
 * the same free room, so together they overran the quota (three 6 MiB uploads were stored under a
 * 10 MiB quota). Here the free room is measured on disk when the user has no upload in progress,
 * then kept in memory while uploads run: each reserves the bytes it will add (an announced size at
 * once, an unannounced stream as its data arrives) and gives back what it did not keep. Files the
 * user deletes meanwhile are counted at the next measurement.
 * @internal
 * @module
 */

/** One user's free room while they have uploads in progress. */
interface Account {
  /** Uploads holding a reservation (or about to). */
  holders: number;
  /** Bytes still free; valid once `ready` resolved. */
  free: number;
  readonly ready: Promise<void>;
}

/** An upload's share of its user's quota. @internal */
export interface QuotaReservation {
  /** Reserve `bytes` more; false (and nothing reserved) when they do not fit. */
  reserve(bytes: number): boolean;
  /** Grow the reservation to `total` bytes if needed; false when that does not fit. */
  reserveUpTo(total: number): boolean;
  /** The upload is over: `kept` of the reserved bytes stay on disk, the rest is free again. Idempotent. */
  release(kept: number): void;
}

/** The quota accounts of one server, by user. @internal */
export class QuotaLedger {
  private readonly accounts = new Map<string, Account>();

  /**
   * Join the account of `key` (a user), measuring the free room with `measure` when nobody else
   * holds it. Resolves to an empty reservation; call `release` in every case.
   */
  async join(key: string, measure: () => Promise<number>): Promise<QuotaReservation> {
    let account = this.accounts.get(key);
    if (!account) {
      const created: Account = {
        holders: 0,
        free: 0,
        ready: measure().then((free) => {
          created.free = free;
        }),
      };
      account = created;
      this.accounts.set(key, account);
    }
    account.holders++; // counted before the await, so the account cannot be dropped under us
    const leave = () => {
      if (--account.holders === 0 && this.accounts.get(key) === account) this.accounts.delete(key);
    };
    try {
      await account.ready;
    } catch (err) {
      leave();
      throw err;
    }
    let reserved = 0;
    let released = false;
    const reserve = (bytes: number): boolean => {
      if (bytes <= 0) return true;
      if (released || bytes > account.free) return false;
      account.free -= bytes;
      reserved += bytes;
      return true;
    };
    return {
      reserve,
      reserveUpTo: (total) => reserve(total - reserved),
      release: (kept) => {
        if (released) return;
        released = true;
        account.free += Math.max(0, reserved - Math.max(0, kept));
        leave();
      },
    };
  }
}
