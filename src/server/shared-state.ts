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
 * Everything nodes share, given to each server as its `sharedState` option. The server never
 * closes it: one state may serve several servers, so its owner closes it after them.
 */
export interface SharedState {
  /** The login throttle shared by all nodes; without it each node throttles on its own. */
  readonly loginThrottle?: SharedLoginThrottle;
}
