/**
 * State that several server nodes behind one load balancer must share. A single node keeps it in
 * memory (the default); `fileshare/postgres` provides `PostgresSharedState` for N nodes.
 * @module
 */
import type { LoginThrottleOptions } from './login-guard.ts';

/**
 * Shared login-throttle records, keyed like the node's own (`a:<address>`, `u:<username>`). With
 * it, failures counted on any node delay and lock out logins on every node; each node still
 * serialises its own concurrent attempts. If the store fails, logins fail with `EIO`
 * (closed, never open).
 */
export interface SharedLoginThrottle {
  /** Milliseconds until any of `keys` may try again (0: go ahead). */
  loginDelay(keys: readonly string[], signal?: AbortSignal): Promise<number>;
  /** Count one failed login for each of `keys`, with these settings (all filled in). */
  recordLoginFailure(keys: readonly string[], settings: Required<LoginThrottleOptions>, signal?: AbortSignal): Promise<void>;
  /** A successful login: forget the records of `keys`. */
  clearLoginFailures(keys: readonly string[], signal?: AbortSignal): Promise<void>;
}

/**
 * One upload's share of a user's quota account, kept where every node sees it. It follows the
 * rules of the single-node ledger (docs/security.md, `quotaBytes`): the free room is measured when
 * the account has no holder on any node, then every holder reserves before it writes and gives
 * back what it did not keep; streams that do not fit wait first-come first-served, and when every
 * holder on every node waits, the last to come is refused.
 */
export interface SharedQuotaReservation {
  /** Reserve `bytes` more at once (an announced size): false, with nothing reserved, when they do not fit. */
  reserve(bytes: number, signal?: AbortSignal): Promise<boolean>;
  /**
   * Grow this holder's reservation to at least `min` bytes in all, and up to `max` when that much
   * is free (fewer round trips for a stream). Resolves to the total now reserved once granted, or
   * false when it never can be (every holder waits). Waits while other holders may give room back.
   */
  reserveUpTo(min: number, max: number, signal?: AbortSignal): Promise<number | false>;
  /**
   * Credit the size of the file at `path` that this upload replaces, unless another holder of the
   * account (on any node) holds that credit. Resolves to the bytes credited (`bytes` or 0).
   */
  creditReplaced(path: string, bytes: number, signal?: AbortSignal): Promise<number>;
  /** The upload is over: `kept` of the reserved bytes stay stored, the rest is free again. Idempotent. */
  release(kept: number): Promise<void>;
}

/**
 * Quota accounts shared by all nodes. A holder whose node dies stops being renewed and lapses
 * after the store's lease; its reservation stays counted until the account is measured again
 * (when it has no holder left), as the data it wrote may be stored.
 */
export interface SharedQuotas {
  /**
   * Join the account `account` (one user's home), measuring the free room with `measure` when
   * it has no holder on any node. Resolves to an empty reservation; call `release` in every case.
   */
  join(account: string, measure: () => Promise<number>, signal?: AbortSignal): Promise<SharedQuotaReservation>;
}

/** A resume lock held by this node, from {@link SharedResumeLocks.acquire}. */
export interface SharedResumeLock {
  /** Let go (the upload committed, failed or was suspended). Idempotent; never throws. */
  release(): Promise<void>;
}

/**
 * Locks that keep two nodes from running the same resumable upload at once. A lock is renewed by
 * its holder while the upload runs; one its node stopped renewing (the node died) lapses after the
 * store's lease and can be taken. A node may take a lock it holds itself: within one node, the
 * newer attempt takes over from the older one (a connection that died silently).
 */
export interface SharedResumeLocks {
  /**
   * Take the lock of the resumable upload `key` (a hex digest of the target path and the client's
   * key): null when another node holds it.
   */
  acquire(key: string, signal?: AbortSignal): Promise<SharedResumeLock | null>;
}

/**
 * Everything nodes share, given to each server as its `sharedState` option. The server never
 * closes it: one state may serve several servers, so its owner closes it after them. Each part is
 * optional; a part that is absent stays in this node's memory.
 */
export interface SharedState {
  /** The login throttle shared by all nodes; without it each node throttles on its own. */
  readonly loginThrottle?: SharedLoginThrottle;
  /** Quota reservations shared by all nodes; without them a user's quota holds per node only. */
  readonly quotas?: SharedQuotas;
  /**
   * Resume locks shared by all nodes; without them the storage backend locks (S3Storage: lock
   * objects in the bucket; LocalStorage: this process only).
   */
  readonly resumeLocks?: SharedResumeLocks;
}
