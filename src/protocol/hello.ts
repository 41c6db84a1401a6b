import { FileShareError } from '../errors.ts';
import { MAX_MAX_FRAME_SIZE, PROTOCOL_NAME, PROTOCOL_VERSION } from './frame.ts';
import { type JsonObject, optionalCount } from './fields.ts';

/** What a peer announces in its HELLO (docs/protocol.md §2). @internal */
export interface Hello {
  readonly protocol: string;
  readonly version: readonly [number, number];
  readonly agent: string;
  /** Largest frame `length` the sender accepts. */
  readonly maxFrameSize: number;
  /** Initial per-stream window the sender grants for data it receives. */
  readonly window: number;
  /** Server-only facts. */
  readonly server?: { readonly chunkSize: number; readonly maxRequestsInFlight: number };
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
  let server: Hello['server'];
  if (typeof obj.server === 'object' && obj.server !== null) {
    const s = obj.server as JsonObject;
    server = { chunkSize: helloCount(s, 'chunkSize'), maxRequestsInFlight: helloCount(s, 'maxRequestsInFlight') };
  }
  return { protocol: PROTOCOL_NAME, version: [major, minor], agent, maxFrameSize, window, ...(server ? { server } : {}) };
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
