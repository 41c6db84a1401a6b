/**
 * UDP probe datagrams (docs/protocol.md §8): the client sends a probe, the server answers it with
 * a reply of exactly the same length. Pure encoding and checking, no sockets.
 *
 * ```
 *  0        4    5                13         17                    25          len-16       len
 *  +--------+----+----------------+----------+---------------------+-----------+------------+
 *  | "FSP1" |kind| key id (8)     | seq (u32)| sent at (f64, ms)   | padding   | MAC (16)   |
 *  +--------+----+----------------+----------+---------------------+-----------+------------+
 * ```
 * The MAC is HMAC-SHA-256 over every byte before it, with the session's 32-byte probe key,
 * truncated to 16 bytes. `kind` (1 = probe, 2 = reply) is covered by the MAC, so a probe reflected
 * back at the client is not a valid reply, nor a reply sent to the server a valid probe.
 * @internal
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Magic and format version: "FSP1". */
export const PROBE_MAGIC = 0x46535031;
/** Bytes of the key id that names the session's probe key. */
export const PROBE_KEY_ID_SIZE = 8;
/** Bytes of a probe key (HMAC-SHA-256 key). */
export const PROBE_KEY_SIZE = 32;
/** Bytes of the truncated MAC. */
export const PROBE_MAC_SIZE = 16;
/** Bytes before the padding. */
export const PROBE_HEADER_SIZE = 4 + 1 + PROBE_KEY_ID_SIZE + 4 + 8;
/** Smallest datagram: header and MAC, no padding (41 bytes). */
export const MIN_PROBE_SIZE = PROBE_HEADER_SIZE + PROBE_MAC_SIZE;
/**
 * Largest datagram: what fits one Ethernet frame without IP fragmentation (1500 - 20 IPv4 - 8 UDP).
 * Larger probes would measure fragment loss, and give a flood more bytes per datagram.
 */
export const MAX_PROBE_SIZE = 1472;

/** What a datagram is. */
export const ProbeKind = { PROBE: 1, REPLY: 2 } as const;
/** @internal */
export type ProbeKind = (typeof ProbeKind)[keyof typeof ProbeKind];

/** The fields of a probe or reply. */
export interface ProbeFields {
  readonly kind: ProbeKind;
  /** Names the session's key on the server; sent in clear. */
  readonly keyId: Buffer;
  /** Sequence number, per session, from 1. */
  readonly seq: number;
  /** The client's send time, ms (its own clock; the server echoes it). */
  readonly sentAt: number;
}

/** Encode a datagram of `size` bytes (padding zero-filled) and sign it with `key`. */
export function encodeProbe(fields: ProbeFields, key: Buffer, size: number): Buffer {
  if (!Number.isInteger(size) || size < MIN_PROBE_SIZE || size > MAX_PROBE_SIZE) {
    throw new RangeError(`probe size must be ${MIN_PROBE_SIZE}-${MAX_PROBE_SIZE} bytes, got ${size}`);
  }
  if (fields.keyId.length !== PROBE_KEY_ID_SIZE) throw new RangeError(`probe key id must be ${PROBE_KEY_ID_SIZE} bytes`);
  if (!Number.isInteger(fields.seq) || fields.seq < 0 || fields.seq > 0xffffffff)
    throw new RangeError(`probe seq out of range: ${fields.seq}`);
  const buf = Buffer.alloc(size);
  buf.writeUInt32BE(PROBE_MAGIC, 0);
  buf[4] = fields.kind;
  fields.keyId.copy(buf, 5);
  buf.writeUInt32BE(fields.seq, 13);
  buf.writeDoubleBE(fields.sentAt, 17);
  sign(buf, key);
  return buf;
}

/**
 * The fields of a datagram whose layout is plausible (magic, length, kind), before its MAC is
 * checked: the key id tells the receiver which key to check it with. `undefined` for anything else.
 */
export function peekProbe(datagram: Buffer): ProbeFields | undefined {
  if (datagram.length < MIN_PROBE_SIZE || datagram.length > MAX_PROBE_SIZE) return undefined;
  if (datagram.readUInt32BE(0) !== PROBE_MAGIC) return undefined;
  const kind = datagram[4];
  if (kind !== ProbeKind.PROBE && kind !== ProbeKind.REPLY) return undefined;
  return {
    kind,
    keyId: datagram.subarray(5, 5 + PROBE_KEY_ID_SIZE),
    seq: datagram.readUInt32BE(13),
    sentAt: datagram.readDoubleBE(17),
  };
}

/** Whether the datagram's MAC is right for `key` (constant-time comparison). */
export function verifyProbe(datagram: Buffer, key: Buffer): boolean {
  if (datagram.length < MIN_PROBE_SIZE) return false;
  const end = datagram.length - PROBE_MAC_SIZE;
  const expected = mac(datagram.subarray(0, end), key);
  return timingSafeEqual(expected, datagram.subarray(end));
}

/**
 * The server's answer to a verified probe: the same bytes with the kind set to REPLY and a new
 * MAC. Never longer than the probe: the no-amplification rule is in the shape of this function.
 */
export function replyTo(probe: Buffer, key: Buffer): Buffer {
  const reply = Buffer.from(probe);
  reply[4] = ProbeKind.REPLY;
  sign(reply, key);
  return reply;
}

function sign(buf: Buffer, key: Buffer): void {
  const end = buf.length - PROBE_MAC_SIZE;
  mac(buf.subarray(0, end), key).copy(buf, end);
}

function mac(data: Buffer, key: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest().subarray(0, PROBE_MAC_SIZE);
}

/**
 * Which sequence numbers were already answered, over the last {@link REPLAY_WINDOW} (as IPsec's
 * anti-replay window, RFC 4303 §3.4.3): a captured probe sent again is not answered twice, and a
 * sequence number too far behind the newest is refused.
 */
export const REPLAY_WINDOW = 1024;

/** @internal */
export class ReplayWindow {
  private highest = 0;
  private readonly seen = new Uint8Array(REPLAY_WINDOW);

  /** Accept `seq` (true) once; false when it was seen, is 0, or is older than the window. */
  accept(seq: number): boolean {
    if (seq === 0) return false;
    if (seq > this.highest) {
      // clear the slots the window slides past
      const steps = Math.min(seq - this.highest, REPLAY_WINDOW);
      for (let i = 1; i <= steps; i++) this.seen[(this.highest + i) % REPLAY_WINDOW] = 0;
      this.highest = seq;
      this.seen[seq % REPLAY_WINDOW] = 1;
      return true;
    }
    if (this.highest - seq >= REPLAY_WINDOW) return false;
    const slot = seq % REPLAY_WINDOW;
    if (this.seen[slot]) return false;
    this.seen[slot] = 1;
    return true;
  }
}
