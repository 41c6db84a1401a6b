/**
 * Frame layout (see docs/protocol.md, §1). All integers big-endian.
 *
 * ```
 *  0                   4       5                   9
 *  +-------------------+-------+-------------------+----------------------------+
 *  | length (u32)      | type  | stream (u32)      | body (length - 5 bytes)    |
 *  +-------------------+-------+-------------------+----------------------------+
 * ```
 * `length` counts type + stream + body.
 * @internal
 */

/** Bytes before the body: length (4) + type (1) + stream (4). */
export const HEADER_SIZE = 9;
/** Bytes counted by `length` that are not body: type (1) + stream (4). */
export const LENGTH_OVERHEAD = 5;

export const FrameType = {
  HELLO: 1,
  REQUEST: 2,
  PARTIAL: 3,
  RESPONSE: 4,
  ERROR: 5,
  DATA: 6,
  END: 7,
  CREDIT: 8,
  CANCEL: 9,
  PING: 10,
  PONG: 11,
  GOAWAY: 12,
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));

/** Human-readable frame type name, for error messages. */
export function frameTypeName(type: number): string {
  return NAMES[type] ?? `unknown(${type})`;
}

export function isFrameType(type: number): type is FrameType {
  return type >= FrameType.HELLO && type <= FrameType.GOAWAY;
}

/** A decoded frame. `body` may be a view into a larger buffer: copy it if you keep it long. */
export interface Frame {
  readonly type: FrameType;
  readonly stream: number;
  readonly body: Buffer;
}

/** The protocol this library speaks: `[major, minor]`. */
export const PROTOCOL_VERSION: readonly [number, number] = [1, 0];
/** The `protocol` field of HELLO. */
export const PROTOCOL_NAME = 'fileshare';

/**
 * Largest `length` field accepted by default: 2 MiB, so that 1 MiB DATA chunks fit. Only DATA frames
 * may be that large, and they are processed in pieces as they arrive, never buffered whole; every
 * other frame is limited to the JSON body limit (256 KiB).
 */
export const DEFAULT_MAX_FRAME_SIZE = 2 * 1024 * 1024;
/**
 * Default size of the DATA frames a side sends: 256 KiB. Larger chunks save a little CPU per byte
 * but make a side's event loop busier per chunk (read, hash, write), which shows in ping latency.
 */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
/**
 * Default per-stream flow-control window: 2 MiB. It bounds the bytes queued ahead of a PING on a
 * busy connection, and is large enough to keep a loopback or LAN pipe full (see bench/README.md).
 */
export const DEFAULT_WINDOW = 2 * 1024 * 1024;
/** Largest value of `length` anyone may configure (16 MiB): keeps a hostile peer's claim bounded. */
export const MAX_MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** Largest PING body. */
export const MAX_PING_BODY = 64;
