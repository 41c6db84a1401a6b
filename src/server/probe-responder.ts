import { randomBytes } from 'node:crypto';
import type { UdpProbeGrant } from '../protocol/operations.ts';
import dgram from 'node:dgram';
import net from 'node:net';
import {
  MAX_PROBE_SIZE,
  PROBE_KEY_ID_SIZE,
  PROBE_KEY_SIZE,
  ProbeKind,
  ReplayWindow,
  peekProbe,
  replyTo,
  verifyProbe,
} from '../protocol/probe.ts';

/** Settings of the UDP probe responder (server option `udpProbes`). */
export interface UdpProbeOptions {
  /** Most probes answered per second for one session; more are dropped (a burst of this many is allowed). @default 500 */
  maxPerSecond?: number;
  /** Most probes answered per second for the whole server, all sessions together. @default 5000 */
  maxPerSecondTotal?: number;
}

/** What a logged-in client gets to send probes: sent in the login response (docs/protocol.md §8). @internal */
export type ProbeGrant = UdpProbeGrant;

/** Counters of the responder, for tests and operators. @internal */
export interface ProbeCounters {
  answered: number;
  /** Datagrams that were not a valid probe of a live session (bad layout, unknown key id, wrong source address, bad MAC). */
  unauthenticated: number;
  /** Valid probes dropped by a rate limit. */
  rateLimited: number;
  /** Valid probes whose sequence number was already answered or is too old. */
  replayed: number;
}

interface Grantee {
  readonly key: Buffer;
  /** The session's TCP peer address: probes from anywhere else are dropped. */
  readonly address: string;
  readonly replay: ReplayWindow;
  readonly bucket: TokenBucket;
}

/**
 * Answers authenticated UDP probes on the TCP listener's port number. Each logged-in session gets
 * a random key; a datagram is answered only if it names a live session's key, comes from that
 * session's IP address, carries a valid MAC, is within the session's and the server's rate, and
 * has a sequence number not answered before. The answer is never larger than the datagram.
 * Everything else is dropped without a word, so the port tells a scanner nothing.
 * @internal
 */
export class ProbeResponder {
  readonly counters: ProbeCounters = { answered: 0, unauthenticated: 0, rateLimited: 0, replayed: 0 };
  private readonly byKeyId = new Map<string, Grantee>();
  private readonly bySession = new Map<object, string>();
  private readonly total: TokenBucket;
  private readonly perSession: number;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly port: number,
    options: UdpProbeOptions,
  ) {
    this.perSession = options.maxPerSecond ?? 500;
    this.total = new TokenBucket(options.maxPerSecondTotal ?? 5000);
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  /**
   * Bind a UDP socket to `address`:`port` (the TCP listener's). Rejects when the port is taken.
   * @param onError - socket errors after the bind (rare: the responder keeps running)
   */
  static async bind(address: string, port: number, options: UdpProbeOptions, onError: (err: Error) => void): Promise<ProbeResponder> {
    const socket = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.removeListener('error', reject);
        resolve();
      });
    });
    socket.on('error', onError);
    return new ProbeResponder(socket, socket.address().port, options);
  }

  /** A new key for `session`, whose TCP peer is `remoteAddress`; replaces any earlier one. */
  grant(session: object, remoteAddress: string): ProbeGrant {
    this.forget(session);
    let keyId: string;
    do keyId = randomBytes(PROBE_KEY_ID_SIZE).toString('hex');
    while (this.byKeyId.has(keyId));
    const key = randomBytes(PROBE_KEY_SIZE);
    this.byKeyId.set(keyId, {
      key,
      address: plainAddress(remoteAddress),
      replay: new ReplayWindow(),
      bucket: new TokenBucket(this.perSession),
    });
    this.bySession.set(session, keyId);
    return { port: this.port, keyId, key: key.toString('base64'), maxSize: MAX_PROBE_SIZE, maxPerSecond: this.perSession };
  }

  /** The session ended: its key is forgotten, its probes are no longer answered. */
  forget(session: object): void {
    const keyId = this.bySession.get(session);
    if (keyId === undefined) return;
    this.bySession.delete(session);
    this.byKeyId.delete(keyId);
  }

  /** Number of sessions holding a key. */
  get grants(): number {
    return this.byKeyId.size;
  }

  close(): Promise<void> {
    this.byKeyId.clear();
    this.bySession.clear();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const fields = peekProbe(msg);
    const grantee = fields?.kind === ProbeKind.PROBE ? this.byKeyId.get(fields.keyId.toString('hex')) : undefined;
    if (!fields || !grantee || plainAddress(rinfo.address) !== grantee.address || !verifyProbe(msg, grantee.key)) {
      this.counters.unauthenticated++;
      return;
    }
    if (!grantee.bucket.take() || !this.total.take()) {
      this.counters.rateLimited++;
      return;
    }
    if (!grantee.replay.accept(fields.seq)) {
      this.counters.replayed++;
      return;
    }
    this.counters.answered++;
    this.socket.send(replyTo(msg, grantee.key), rinfo.port, rinfo.address, () => {
      /* a full send buffer loses the reply: that is loss, as the client will count it */
    });
  }
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same client (a dual-stack socket reports the former). */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** `rate` tokens per second, at most `rate` saved up. */
class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
