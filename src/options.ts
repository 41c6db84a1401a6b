/**
 * Validation shared by the client's and the server's options, so that both sides check the same
 * things in the same words. An invalid value throws a TypeError (a programming error, as Node's
 * own argument checks) whose `code` is `EINVAL`, with a message that quotes the option and the value.
 *
 * Naming rule: an option that is a duration is named for what it bounds (`connectTimeout`,
 * `progressInterval`) and is always in milliseconds, with no unit suffix. Measured durations in
 * results and events (`rttMs`, `elapsedMs`) carry `Ms`. Older `…Ms` option names are accepted as
 * deprecated aliases.
 * @internal
 * @module
 */
import { DEFAULT_CHUNK_SIZE, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, MAX_MAX_FRAME_SIZE } from './protocol/frame.ts';
import { DEFAULT_STALL_BYTES, DEFAULT_STALL_TIMEOUT } from './transport/stall.ts';

/** A TypeError with the stable code `EINVAL`: what every invalid option throws. @internal */
export type OptionError = TypeError & { readonly code: 'EINVAL' };

/** The error of an invalid option. @internal */
export function optionError(message: string): OptionError {
  return Object.assign(new TypeError(message), { code: 'EINVAL' as const });
}

/** An integer option from `min` to `max`, or `fallback` when absent. @internal */
export function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw optionError(`options.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The value of an option under its name or its deprecated alias (`progressIntervalMs` for
 * `progressInterval`); given both, they must agree. `prefix` names a nested object (`loginThrottle.`).
 * @internal
 */
export function aliased(options: object, name: string, alias: string, prefix = ''): number | undefined {
  const values = options as Record<string, number | undefined>;
  const value = values[name];
  const old = values[alias];
  if (old === undefined) return value;
  if (value !== undefined && value !== old) {
    throw optionError(
      `options.${prefix}${name} (${JSON.stringify(value)}) and its deprecated alias options.${prefix}${alias} (${JSON.stringify(old)}) disagree`,
    );
  }
  return old;
}

/** The options of the data path that the client and the server share. */
export interface TransferOptions {
  /** Largest frame accepted from the peer, bytes. @default 2097152 */
  maxFrameSize?: number;
  /** Largest DATA frame body sent, bytes; at most `window`. @default 262144 */
  chunkSize?: number;
  /** Per-stream flow-control window granted to the peer's data, bytes. @default 2097152 */
  window?: number;
  /** Minimum interval between progress reports of one transfer, ms. @default 100 */
  progressInterval?: number;
  /** @deprecated The old name of `progressInterval`. */
  progressIntervalMs?: number;
  /** The stall rule's time, ms (see each side's options). @default 60000 */
  stallTimeout?: number;
  /** The stall rule's floor, bytes per `stallTimeout`. @default 16384 */
  stallBytes?: number;
}

/** {@link TransferOptions} with every default filled in and checked. @internal */
export interface ResolvedTransferOptions {
  readonly maxFrameSize: number;
  readonly chunkSize: number;
  readonly window: number;
  readonly progressInterval: number;
  readonly stallTimeout: number;
  readonly stallBytes: number;
}

/**
 * Resolve and check the shared data-path options, the same on both sides: sizes in range, and a
 * chunk that fits the window (a DATA frame larger than the window could never be sent).
 * @internal
 */
export function resolveTransferOptions(options: TransferOptions): ResolvedTransferOptions {
  const resolved: ResolvedTransferOptions = {
    maxFrameSize: positiveInteger('maxFrameSize', options.maxFrameSize, DEFAULT_MAX_FRAME_SIZE, 4096, MAX_MAX_FRAME_SIZE),
    chunkSize: positiveInteger('chunkSize', options.chunkSize, DEFAULT_CHUNK_SIZE, 1024, MAX_MAX_FRAME_SIZE - 5),
    window: positiveInteger('window', options.window, DEFAULT_WINDOW, 4096, 0xffffffff),
    progressInterval: positiveInteger('progressInterval', aliased(options, 'progressInterval', 'progressIntervalMs'), 100, 0),
    stallTimeout: positiveInteger('stallTimeout', options.stallTimeout, DEFAULT_STALL_TIMEOUT),
    stallBytes: positiveInteger('stallBytes', options.stallBytes, DEFAULT_STALL_BYTES),
  };
  if (resolved.chunkSize > resolved.window) {
    throw optionError(`options.chunkSize (${resolved.chunkSize}) must not exceed options.window (${resolved.window})`);
  }
  return resolved;
}
