/**
 * The server's quota accounts in a store every node shares ({@link SharedQuotas}, e.g.
 * `PostgresSharedState`), behind the interface of the in-memory ledger.
 * @internal
 * @module
 */
import { FileShareError, isFileShareError } from '../errors.ts';
import type { QuotaAccounts, QuotaReservation } from './quota-ledger.ts';
import type { SharedQuotas } from './shared-state.ts';

/**
 * Room an unannounced stream reserves beyond what it needs now, so that it asks the store once
 * per step rather than once per chunk. What it does not write is given back when it ends.
 */
export const SHARED_STREAM_STEP = 4 * 1024 * 1024;

/** A store that failed: the upload fails with EIO (closed, never open: nothing is written unreserved). */
function storeFailed(err: unknown): FileShareError {
  if (isFileShareError(err)) return err;
  return new FileShareError('EIO', `shared quota store failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** @internal */
export class SharedQuotaLedger implements QuotaAccounts {
  constructor(
    private readonly shared: SharedQuotas,
    /** A release the store did not take (its holder lapses after the store's lease). */
    private readonly onError: (err: Error) => void,
  ) {}

  async join(key: string, measure: () => Promise<number>): Promise<QuotaReservation> {
    let held;
    try {
      held = await this.shared.join(key, measure);
    } catch (err) {
      throw storeFailed(err);
    }
    const holder = held;
    const onError = this.onError;
    /** Total this upload holds in the store. */
    let reserved = 0;
    let released: Promise<void> | undefined;
    let waiting: AbortController | undefined;
    return {
      async reserve(bytes) {
        if (bytes <= 0) return true;
        if (released) return false;
        let granted: boolean;
        try {
          granted = await holder.reserve(bytes);
        } catch (err) {
          throw storeFailed(err);
        }
        if (granted) reserved += bytes;
        return granted;
      },
      reserveUpTo(total) {
        if (total <= reserved) return true;
        if (released) return Promise.resolve(false);
        const controller = new AbortController();
        waiting = controller;
        return holder.reserveUpTo(total, total + SHARED_STREAM_STEP, controller.signal).then(
          (got) => {
            waiting = undefined;
            if (got === false) return false;
            reserved = Math.max(reserved, got);
            return true;
          },
          (err: unknown) => {
            waiting = undefined;
            if (controller.signal.aborted) return false;
            throw storeFailed(err);
          },
        );
      },
      async creditReplaced(path, bytes) {
        if (released || bytes <= 0) return 0;
        try {
          return await holder.creditReplaced(path, bytes);
        } catch (err) {
          throw storeFailed(err);
        }
      },
      release(kept) {
        // given up while waiting (cancelled, connection lost): stop waiting first
        waiting?.abort();
        released ??= holder.release(kept).catch((err: unknown) => {
          onError(new Error(`releasing a shared quota reservation failed: ${(err as Error)?.message ?? err}`, { cause: err }));
        });
        return released;
      },
    };
  }
}
