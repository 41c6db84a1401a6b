import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FileShareError } from '../errors.ts';
import { ServerMetrics } from '../metrics/events.ts';
import { encodeJsonFrame } from '../protocol/encoder.ts';
import { FrameType } from '../protocol/frame.ts';
import type { Storage } from '../storage/types.ts';
import { Authenticator } from './authenticator.ts';
import type { ConnectionInfo } from './events.ts';
import type { ResolvedServerOptions } from './options.ts';
import type { ProbeGrant, ProbeResponder } from './probe-responder.ts';
import { type QuotaAccounts, QuotaLedger } from './quota-ledger.ts';
import type { ServerEventSink } from './request-context.ts';
import { ResumeLockTable } from './resume-lock.ts';
import { Session, type SessionHost } from './session.ts';
import { SharedQuotaLedger } from './shared-quota-ledger.ts';

/** Temporary files of ordinary uploads older than this can only be crash leftovers: 1 hour. */
const ABANDONED_TEMP_TTL = 3_600_000;

/**
 * The private side of a server: the host of its sessions. It admits connections (or refuses them
 * with EBUSY), owns the sessions, the authenticator, the quota accounts and the sweeping of upload
 * leftovers, and shuts all of it down. {@link FileShareServer} is the public face that owns the
 * listening socket and the events; nothing here appears in the public typings.
 * @internal
 */
export class ServerCore implements SessionHost {
  readonly metrics = new ServerMetrics();
  /** Users' quota accounts: in memory, or shared by every node when the server was given shared quotas. */
  readonly quotas: QuotaAccounts;
  /** Resume locks: through the shared state when it has them, else left to the storage. */
  readonly resumeLocks: ResumeLockTable;
  readonly authenticator: Authenticator;
  private storageRoot: Storage | undefined;
  private readonly sessions = new Set<Session>();
  private readonly perAddress = new Map<string, number>();
  /** Sockets refused with EBUSY, waiting for their ERROR frame to be flushed. */
  private readonly refused = new Set<Socket>();
  private nextConnectionId = 1;
  private stopping = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Answers UDP probes, when the `udpProbes` option is on and its port could be bound (set by the server once bound). */
  prober: ProbeResponder | undefined;

  constructor(
    readonly options: ResolvedServerOptions,
    readonly emit: ServerEventSink,
  ) {
    this.authenticator = new Authenticator(
      options.auth,
      options.loginThrottle,
      emit,
      options.sharedState?.loginThrottle,
      options.maxPendingLogins,
      options.resumption,
    );
    const shared = options.sharedState?.quotas;
    this.quotas = shared ? new SharedQuotaLedger(shared, (err) => emit('error', err)) : new QuotaLedger();
    this.resumeLocks = new ResumeLockTable(options.sharedState?.resumeLocks);
    this.metrics.onListenerError = (err) => emit('error', err);
  }

  get storage(): Storage {
    if (!this.storageRoot) throw new FileShareError('EIO', 'the server is not listening');
    return this.storageRoot;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Serve `storage` from now on, and sweep its upload leftovers now and periodically. */
  start(storage: Storage): void {
    this.storageRoot = storage;
    this.startSweeping(storage);
  }

  /** A new client socket (after its TLS handshake): a session, or a refusal with EBUSY. */
  accept(socket: Socket, secure: boolean): void {
    const remoteAddress = socket.remoteAddress ?? 'unknown';
    const info: ConnectionInfo = { id: this.nextConnectionId++, remoteAddress, remotePort: socket.remotePort ?? 0, secure };
    socket.on('error', () => {}); // errors surface through the session's close
    if (this.stopping) return this.refuse(socket, 'the server is shutting down');
    if (this.sessions.size >= this.options.maxConnections)
      return this.refuse(socket, `the server is full (${this.options.maxConnections} connections)`);
    const fromAddress = this.perAddress.get(remoteAddress) ?? 0;
    if (fromAddress >= this.options.maxConnectionsPerAddress) return this.refuse(socket, `too many connections from ${remoteAddress}`);
    this.perAddress.set(remoteAddress, fromAddress + 1);
    this.open(socket, info);
  }

  /**
   * Serve one client over any byte stream (an in-memory Duplex pair in tests, a tunnel): a session
   * as for an accepted socket, without the connection limits, which are about sockets.
   */
  serve(transport: Duplex, peer: Omit<ConnectionInfo, 'id'>): void {
    const info: ConnectionInfo = { id: this.nextConnectionId++, ...peer };
    this.perAddress.set(info.remoteAddress, (this.perAddress.get(info.remoteAddress) ?? 0) + 1);
    this.open(transport, info);
  }

  private open(transport: Duplex, info: ConnectionInfo): void {
    this.sessions.add(new Session(transport, info, this));
    this.emit('connection', info);
  }

  /** A UDP probe key for a session that just logged in, when probes are on. */
  probeGrant(session: Session): ProbeGrant | undefined {
    return this.prober?.grant(session, session.info.remoteAddress);
  }

  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    this.prober?.forget(session);
    const address = session.info.remoteAddress;
    const count = (this.perAddress.get(address) ?? 1) - 1;
    if (count <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, count);
  }

  /**
   * End every session gracefully: GOAWAY, requests in flight may finish within `closeTimeout`,
   * then the rest are cut off. Then release the auth provider.
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    for (const socket of this.refused) socket.destroy();
    const sessions = [...this.sessions];
    for (const session of sessions) session.goAway('the server is shutting down');
    const allClosed = Promise.all(sessions.map((s) => s.closed));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.options.closeTimeout)));
    if ((await Promise.race([allClosed, timedOut])) === 'timeout') {
      for (const session of this.sessions) session.destroy('the server shut down');
      await allClosed;
    }
    clearTimeout(timer);
  }

  /** Release the auth provider; its failure is reported as an `error` event. */
  async release(): Promise<void> {
    try {
      await this.authenticator.close();
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  private refuse(socket: Socket, message: string): void {
    socket.end(encodeJsonFrame(FrameType.ERROR, 0, { code: 'EBUSY', message }));
    // Read (and drop) what the client sends, so that its close is noticed: a socket that is
    // never read never sees the peer's FIN and would hold listener.close() (server.close()) up.
    // Whatever happens, it goes after a second, and at once when the server shuts down.
    this.refused.add(socket);
    socket.once('close', () => this.refused.delete(socket));
    socket.once('end', () => socket.destroy());
    socket.resume();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * Remove expired upload leftovers now (in the background) and then periodically: data of
   * resumable uploads past `resumableUploadTtl`, and temporary files a crash left behind.
   */
  private startSweeping(storage: Storage): void {
    if (!storage.sweep) return;
    const ttl = this.options.resumableUploadTtl;
    const sweep = () => {
      storage.sweep!({ resumableTtlMs: ttl, abandonedTtlMs: Math.min(ttl, ABANDONED_TEMP_TTL) }).catch((err: Error) =>
        this.emit('error', new Error(`sweeping upload leftovers failed: ${err.message}`, { cause: err })),
      );
    };
    sweep();
    this.sweepTimer = setInterval(sweep, Math.max(50, Math.min(ttl / 2, 3_600_000)));
    this.sweepTimer.unref();
  }
}
