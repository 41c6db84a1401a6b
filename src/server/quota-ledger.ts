/**
 * Quota accounting shared by a user's concurrent uploads.
 *
 * The free room is measured on disk when the user has no upload in progress, then kept in memory
 * while uploads run: each reserves the bytes it will add before they are written (an announced size
 * at once, an unannounced stream as its data arrives) and gives back what it did not keep. Files the
 * user deletes meanwhile are counted at the next measurement. The rules:
 *
 * - The size of a file that an overwrite replaces is credited once, to one upload in progress (the
 *   first to claim it): the old file and its replacement then count once, at the larger size. Before,
 *   every concurrent overwrite of one file was credited its size, so five overwrites of a 6 MiB file
 *   under a 10 MiB quota were all admitted and 36 MiB sat on disk.
 * - Reservations of unannounced streams grow first-come first-served: a stream whose next bytes do
 *   not fit waits (it writes nothing and grants its sender no more credit) behind the streams that
 *   came before it, until room is given back. Before, every stream failed as soon as the room ran
 *   out, so five 3 MiB streams into 10 MiB all failed. When every upload holding a reservation is
 *   waiting, none can ever go on: the one that came last fails (`EQUOTA`); once it has removed its
 *   data it gives its reservation back, and only then are the others judged again (it counts as
 *   active until then, so no second one is failed meanwhile). So as many streams as fit succeed,
 *   and the bytes on disk never exceed what is reserved.
 * - An announced size is judged at once, against what is free and not promised to a waiting stream.
 * @internal
 * @module
 */

/** A stream waiting for room. */
interface Waiter {
  /** Arrival order of its upload: lower came first. */
  readonly order: number;
  /** Bytes it still needs to reach the total it asked for. */
  need(): number;
  /** Take the bytes it needs (they fit). */
  take(): void;
  readonly resolve: (granted: boolean) => void;
}

/** One user's free room while they have uploads in progress. */
interface Account {
  /** Uploads holding a reservation (or about to). */
  holders: number;
  /** Holders not waiting for room: one of them finishing may give some back. */
  active: number;
  /** Bytes still free; valid once `ready` resolved. */
  free: number;
  readonly ready: Promise<void>;
  /** Streams waiting for room, by arrival. */
  readonly waiters: Waiter[];
  /** Remote paths whose replaced size is credited to an upload in progress. */
  readonly credited: Set<string>;
  nextOrder: number;
}

/**
 * An upload's share of its user's quota. The in-memory ledger answers at once; a ledger shared by
 * several nodes (./shared-quota-ledger.ts) answers with promises.
 * @internal
 */
export interface QuotaReservation {
  /** Reserve `bytes` more at once; false (and nothing reserved) when they do not fit. */
  reserve(bytes: number): boolean | Promise<boolean>;
  /**
   * Grow the reservation to `total` bytes if needed: true when that fits now, else a promise that
   * resolves true once it was granted (first-come first-served) or false when it never can be.
   */
  reserveUpTo(total: number): true | Promise<boolean>;
  /**
   * Credit the size of the file at `path` that this upload replaces, unless another upload in
   * progress already holds that credit. Resolves to the bytes credited (`bytes` or 0).
   */
  creditReplaced(path: string, bytes: number): number | Promise<number>;
  /** The upload is over: `kept` of the reserved bytes stay on disk, the rest is free again. Idempotent; never rejects. */
  release(kept: number): void | Promise<void>;
}

/** Where a server keeps its users' quota accounts: its memory, or a store all nodes share. @internal */
export interface QuotaAccounts {
  /**
   * Join the account of `key` (a user and home), measuring the free room with `measure` when
   * nobody else holds it. Resolves to an empty reservation; call `release` in every case.
   */
  join(key: string, measure: () => Promise<number>): Promise<QuotaReservation>;
}

/** The quota accounts of one server, by user. @internal */
export class QuotaLedger implements QuotaAccounts {
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
        active: 0,
        free: 0,
        waiters: [],
        credited: new Set(),
        nextOrder: 0,
        ready: measure().then((free) => {
          created.free = free;
        }),
      };
      account = created;
      this.accounts.set(key, account);
    }
    const acc = account;
    acc.holders++; // counted before the await, so the account cannot be dropped under us
    acc.active++;
    const order = acc.nextOrder++;
    const leave = () => {
      acc.active--;
      if (--acc.holders === 0 && this.accounts.get(key) === acc) this.accounts.delete(key);
      judge(acc);
    };
    try {
      await acc.ready;
    } catch (err) {
      leave();
      throw err;
    }
    let reserved = 0;
    let released = false;
    let credit: string | undefined;
    let waiting: Waiter | undefined;
    let left = false;
    const giveBack = (kept: number) => {
      released = true;
      acc.free += Math.max(0, reserved - Math.max(0, kept));
      reserved = 0;
      if (credit !== undefined) acc.credited.delete(credit);
    };
    return {
      reserve(bytes) {
        if (bytes <= 0) return true;
        if (released || bytes > acc.free - promised(acc)) return false;
        acc.free -= bytes;
        reserved += bytes;
        return true;
      },
      reserveUpTo(total) {
        const need = total - reserved;
        if (need <= 0) return true;
        if (released) return Promise.resolve(false);
        if (acc.waiters.length === 0 && need <= acc.free) {
          acc.free -= need;
          reserved += need;
          return true;
        }
        return new Promise<boolean>((resolve) => {
          waiting = {
            order,
            need: () => total - reserved,
            take: () => {
              const n = Math.max(0, total - reserved);
              acc.free -= n;
              reserved += n;
            },
            resolve: (granted) => {
              waiting = undefined;
              acc.active++;
              resolve(granted);
            },
          };
          acc.active--;
          const at = acc.waiters.findIndex((w) => w.order > order);
          acc.waiters.splice(at < 0 ? acc.waiters.length : at, 0, waiting);
          judge(acc);
        });
      },
      creditReplaced(path, bytes) {
        if (released || bytes <= 0 || credit !== undefined || acc.credited.has(path)) return 0;
        acc.credited.add(path);
        credit = path;
        return bytes;
      },
      release(kept) {
        if (waiting) {
          // given up while waiting (cancelled, connection lost): out of the queue first
          acc.waiters.splice(acc.waiters.indexOf(waiting), 1);
          waiting.resolve(false);
        }
        if (left) return;
        left = true;
        if (!released) giveBack(kept);
        leave();
      },
    };
  }
}

/** Bytes that waiting streams need: an announced size must not take them. */
function promised(account: Account): number {
  let total = 0;
  for (const w of account.waiters) total += Math.max(0, w.need());
  return total;
}

/**
 * Serve the waiting streams in arrival order while what they need fits. If some still wait and no
 * holder is active (every one waits, so nothing will ever be given back), the last to arrive is
 * told to give up; the others are judged again when it has released its reservation.
 */
function judge(account: Account): void {
  for (;;) {
    while (account.waiters.length > 0 && account.waiters[0]!.need() <= account.free) {
      const next = account.waiters.shift()!;
      next.take();
      next.resolve(true);
    }
    // an active holder may still give bytes back (the one failed last, once it removed its data)
    if (account.waiters.length === 0 || account.active > 0) return;
    account.waiters.pop()!.resolve(false);
  }
}
