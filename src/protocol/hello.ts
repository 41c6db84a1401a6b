import { FileShareError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { encodeJsonFrame } from './encoder.ts';
import { FrameType, MAX_MAX_FRAME_SIZE, PROTOCOL_NAME, PROTOCOL_VERSION } from './frame.ts';
import { type JsonObject, optionalCount, parseJsonObject } from './fields.ts';

/** What a peer announces in its HELLO (docs/protocol.md §2). @internal */
export interface Hello {
  readonly protocol: string;
  readonly version: readonly [number, number];
  readonly agent: string;
  /** Largest frame `length` the sender accepts. */
  readonly maxFrameSize: number;
  /** Initial per-stream window the sender grants for data it receives. */
  readonly window: number;
  /**
   * Bytes of a new upload the sender (a server) accepts before its go-ahead, per request (0: none,
   * the go-ahead comes first as in every 1.0 peer); never above `window` (docs/protocol.md §4).
   */
  readonly eagerBytes: number;
  /** Most such bytes held for all of one connection's requests together (0 when `eagerBytes` is). */
  readonly eagerTotal: number;
  /** Requests the sender (a server) lets one connection have open at once (0: not announced). */
  readonly maxRequests: number;
  /** Most files the sender (a server) takes in one `upload-batch` (0: no batches). */
  readonly batchFiles: number;
  /** Most bytes of data, all files together, in one `upload-batch` (0 when `batchFiles` is). */
  readonly batchBytes: number;
}

/** What this side announces in its HELLO. @internal */
export interface HelloLimits {
  readonly maxFrameSize: number;
  readonly window: number;
  /** Eager upload allowance per request (servers only; 0 or absent: not announced). */
  readonly eagerBytes?: number;
  /** Eager upload allowance per connection. */
  readonly eagerTotal?: number;
  /** Requests one connection may have open at once (servers only; absent: not announced). */
  readonly maxRequests?: number;
  /** Files per `upload-batch` (servers only; 0 or absent: no batches). */
  readonly batchFiles?: number;
  /** Bytes per `upload-batch`, all files together. */
  readonly batchBytes?: number;
}

/** This side's HELLO frame (client and server send the same fields). @internal */
export function encodeHello(limits: HelloLimits): Buffer {
  const eager = limits.eagerBytes && limits.eagerTotal ? { eagerBytes: limits.eagerBytes, eagerTotal: limits.eagerTotal } : {};
  return encodeJsonFrame(FrameType.HELLO, 0, {
    protocol: PROTOCOL_NAME,
    version: PROTOCOL_VERSION,
    agent: `fileshare/${VERSION}`,
    maxFrameSize: limits.maxFrameSize,
    window: limits.window,
    ...eager,
    ...(limits.maxRequests ? { maxRequests: limits.maxRequests } : {}),
    ...(limits.batchFiles && limits.batchBytes ? { batchFiles: limits.batchFiles, batchBytes: limits.batchBytes } : {}),
  });
}

/** Parse and validate a received HELLO frame body. @throws EPROTO @internal */
export function parseHelloFrame(body: Buffer): Hello {
  return parseHello(parseJsonObject(body, 'HELLO'));
}

/**
 * Validate a received HELLO. A different protocol or major version is `EPROTO` with a message
 * naming both versions, so the user sees at once why the peer was refused.
 * @internal
 */
export function parseHello(obj: JsonObject): Hello {
  if (obj.protocol !== PROTOCOL_NAME) {
    throw new FileShareError('EPROTO', `peer does not speak the fileshare protocol (got ${JSON.stringify(obj.protocol)})`);
  }
  const version = obj.version;
  if (!Array.isArray(version) || version.length !== 2 || !version.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new FileShareError('EPROTO', 'HELLO has no valid version');
  }
  const [major, minor] = version as [number, number];
  if (major !== PROTOCOL_VERSION[0]) {
    throw new FileShareError(
      'EPROTO',
      `protocol version ${major}.${minor} is not supported: this side speaks ${PROTOCOL_VERSION[0]}.${PROTOCOL_VERSION[1]}`,
    );
  }
  const maxFrameSize = helloCount(obj, 'maxFrameSize');
  const window = helloCount(obj, 'window');
  if (maxFrameSize < 1024 || maxFrameSize > MAX_MAX_FRAME_SIZE) throw new FileShareError('EPROTO', 'HELLO has an invalid maxFrameSize');
  if (window < 1024 || window > 0xffffffff) throw new FileShareError('EPROTO', 'HELLO has an invalid window');
  const agent = typeof obj.agent === 'string' ? obj.agent.slice(0, 200) : 'unknown';
  // an allowance above the window could never be used (the stream's credit is the window); one
  // without a connection total (or the reverse) is no allowance at all
  let eagerBytes = Math.min(helloCount(obj, 'eagerBytes'), window);
  const eagerTotal = eagerBytes > 0 ? helloCount(obj, 'eagerTotal') : 0;
  if (eagerTotal === 0) eagerBytes = 0;
  // fields this version does not know (a newer minor version's, or the `server` object of 1.0
  // servers, which nothing read) are ignored
  const maxRequests = helloCount(obj, 'maxRequests');
  // a batch needs both limits; a single file is no batch
  let batchFiles = helloCount(obj, 'batchFiles');
  const batchBytes = batchFiles > 1 ? helloCount(obj, 'batchBytes') : 0;
  if (batchBytes === 0) batchFiles = 0;
  return {
    protocol: PROTOCOL_NAME,
    version: [major, minor],
    agent,
    maxFrameSize,
    window,
    eagerBytes,
    eagerTotal,
    maxRequests,
    batchFiles,
    batchBytes,
  };
}

/**
 * A count field of a HELLO (0 when absent). A malformed one is `EPROTO`, not the `EINVAL` of
 * request arguments: a bad HELLO is a connection error, reported on stream 0 (§2, §6).
 */
function helloCount(obj: JsonObject, key: string): number {
  try {
    return optionalCount(obj, key) ?? 0;
  } catch (err) {
    throw new FileShareError('EPROTO', `HELLO has an invalid ${key}`, { cause: err });
  }
}
