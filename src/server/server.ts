import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import type { AuthenticatedUser } from '../auth/types.ts';
import { FileShareError } from '../errors.ts';
import { ServerMetrics } from '../metrics/events.ts';
import { encodeJsonFrame } from '../protocol/encoder.ts';
import { FrameType } from '../protocol/frame.ts';
import { LocalStorage } from '../storage/local-storage.ts';
import type { Storage } from '../storage/types.ts';
import type { ConnectionInfo, ServerAddress, ServerEvents } from './events.ts';
import { type FileShareServerOptions, type ResolvedServerOptions, resolveServerOptions } from './options.ts';
import { Session, type SessionHost } from './session.ts';
import { LoginGuard } from './login-guard.ts';
import { QuotaLedger } from './quota-ledger.ts';

/**
 * A fileshare server: accepts clients over TCP (or TLS), checks their logins against an
 * {@link AuthProvider} and serves a folder (or any {@link Storage}).
 *
 * @example
 * ```ts
 * const server = new FileShareServer({
 *   root: './server_data',
 *   auth: new JsonFileAuthProvider('./users.json'),
 * });
 * server.on('login', (e) => console.log(`${e.username} logged in from ${e.connection.remoteAddress}`));
 * const { port } = await server.listen();
 * ```
 */
export class FileShareServer extends EventEmitter<ServerEvents> {
  /** Transfer progress and completion, as typed events. */
  readonly metrics = new ServerMetrics();
  private readonly opts: ResolvedServerOptions;
  private readonly loginGuard: LoginGuard;
  /** @internal SessionHost: quota accounts shared by each user's concurrent uploads. */
  readonly quotas = new QuotaLedger();
  private storageRoot: Storage | undefined;
  private listener: net.Server | undefined;
  private readonly sessions = new Set<Session>();
  private readonly perAddress = new Map<string, number>();
  /** Every accepted TCP socket (for TLS, from before its handshake) until it closes. */
  private readonly sockets = new Set<net.Socket>();
  /** Sockets refused with EBUSY, waiting for their ERROR frame to be flushed. */
  private readonly refused = new Set<net.Socket>();
  private nextConnectionId = 1;
  private closing: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  /**
   * Create a server; it does nothing until {@link FileShareServer.listen | listen()}.
   * @param options - see {@link FileShareServerOptions}; invalid values throw a TypeError.
   */
  constructor(options: FileShareServerOptions) {
    super();
    this.opts = resolveServerOptions(options);
    this.loginGuard = new LoginGuard(this.opts.loginThrottle);
    this.metrics.onListenerError = (err) => this.emitSafe('error', err);
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.sessions.size;
  }

  /**
   * Start listening. Resolves to the bound address (use port 0 in options to get a free port).
   * @throws when the address is in use or the root folder cannot be created.
   */
  async listen(): Promise<ServerAddress> {
    if (this.closing) throw new FileShareError('ECLOSED', 'the server was closed');
    if (this.listener) throw new FileShareError('EINVAL', 'the server is already listening');
    const { root, fsync, tls: tlsOptions, host, port } = this.opts;
    if (typeof root === 'string') await mkdir(root, { recursive: true });
    this.storageRoot = typeof root === 'string' ? new LocalStorage(root, { fsync }) : root;
    const onSocket = (socket: net.Socket) => this.accept(socket, tlsOptions !== undefined);
    // the TLS handshake comes before HELLO: bound it by the same handshakeTimeout (Node's default is 120 s)
    const listener = tlsOptions
      ? tls.createServer({ handshakeTimeout: this.opts.handshakeTimeout, ...tlsOptions }, onSocket)
      : net.createServer(onSocket);
    // Every TCP socket, from its accept on. A TLS client still in its handshake has no session yet,
    // and listener.close() waits for it: shutdown() cuts such stragglers once the sessions are done.
    listener.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // failed TLS handshakes and resets are the client's problem, not the server's
    listener.on('tlsClientError', (_err: Error, socket: net.Socket) => socket.destroy());
    this.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => {
        this.listener = undefined; // not listening: a later listen() may try again (another port, say)
        reject(err);
      });
      listener.listen({ host, port }, () => {
        listener.removeAllListeners('error');
        resolve();
      });
    });
    listener.on('error', (err) => this.emitSafe('error', err));
    this.startSweeping();
    const bound = this.address();
    if (!tlsOptions && !isLoopback(bound.address)) {
      this.warn(`fileshare is listening on ${bound.address}:${bound.port} without TLS: passwords and files cross the network in clear. Pass tls: { key, cert } to encrypt.`);
    }
    this.emitSafe('listening', bound);
    return bound;
  }

  /** The bound address and port. @throws EINVAL before `listen()` resolved. */
  address(): ServerAddress {
    const address = this.listener?.address();
    if (!address || typeof address === 'string') throw new FileShareError('EINVAL', 'the server is not listening');
    return { address: address.address, port: address.port };
  }

  /**
   * Stop accepting connections and end every session gracefully: clients get GOAWAY, requests in
   * flight may finish within `closeTimeout`, then the rest are cut off (unfinished uploads never
   * leave a partial file under their target name: plain ones are discarded, resumable ones keep
   * their hidden data for a resume). Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** @internal */
  get shuttingDown(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Remove expired upload leftovers now (in the background) and then periodically: data of
   * resumable uploads past `resumableUploadTtl`, and temporary files a crash left behind.
   */
  private startSweeping(): void {
    const storage = this.storageRoot;
    if (!storage?.sweep) return;
    const ttl = this.opts.resumableUploadTtl;
    const sweep = () => {
      storage
        .sweep!({ resumableTtlMs: ttl, abandonedTtlMs: Math.min(ttl, ABANDONED_TEMP_TTL) })
        .catch((err: Error) => this.emitSafe('error', new Error(`sweeping upload leftovers failed: ${err.message}`, { cause: err })));
    };
    sweep();
    this.sweepTimer = setInterval(sweep, Math.max(50, Math.min(ttl / 2, 3_600_000)));
    this.sweepTimer.unref();
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    const listener = this.listener;
    const stopped = listener ? new Promise<void>((resolve) => listener.close(() => resolve())) : Promise.resolve();
    for (const socket of this.refused) socket.destroy();
    const sessions = [...this.sessions];
    for (const session of sessions) session.goAway('the server is shutting down');
    const allClosed = Promise.all(sessions.map((s) => s.closed));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.opts.closeTimeout)));
    if ((await Promise.race([allClosed, timedOut])) === 'timeout') {
      for (const session of this.sessions) session.destroy('the server shut down');
      await allClosed;
    }
    clearTimeout(timer);
    // the sessions are gone; what is left never got one (a TLS handshake in progress, a refusal)
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    this.loginGuard.close();
    try {
      await this.opts.auth.close?.();
    } catch (err) {
      this.emitSafe('error', err as Error);
    }
    this.emitSafe('close');
  }

  private accept(socket: net.Socket, secure: boolean): void {
    const remoteAddress = socket.remoteAddress ?? 'unknown';
    const info: ConnectionInfo = { id: this.nextConnectionId++, remoteAddress, remotePort: socket.remotePort ?? 0, secure };
    socket.on('error', () => {}); // errors surface through the session's close
    const refuse = (message: string) => {
      socket.end(encodeJsonFrame(FrameType.ERROR, 0, { code: 'EBUSY', message }));
      // Read (and drop) what the client sends, so that its close is noticed: a socket that is
      // never read never sees the peer's FIN and would hold listener.close() (server.close()) up.
      // Whatever happens, it goes after a second, and at once when the server shuts down.
      this.refused.add(socket);
      socket.once('close', () => this.refused.delete(socket));
      socket.once('end', () => socket.destroy());
      socket.resume();
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    if (this.closing) return refuse('the server is shutting down');
    if (this.sessions.size >= this.opts.maxConnections) return refuse(`the server is full (${this.opts.maxConnections} connections)`);
    const fromAddress = this.perAddress.get(remoteAddress) ?? 0;
    if (fromAddress >= this.opts.maxConnectionsPerAddress) return refuse(`too many connections from ${remoteAddress}`);
    this.perAddress.set(remoteAddress, fromAddress + 1);
    const host: SessionHost = this;
    const session = new Session(socket, info, host);
    this.sessions.add(session);
    this.emitSafe('connection', info);
  }

  /** @internal SessionHost */
  get options(): ResolvedServerOptions {
    return this.opts;
  }

  /** @internal SessionHost */
  get storage(): Storage {
    if (!this.storageRoot) throw new FileShareError('EIO', 'the server is not listening');
    return this.storageRoot;
  }

  /** @internal SessionHost: emit without letting a listener's exception escape. */
  emitSafe<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ServerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      if (event !== 'error') this.emitSafe('error', err as Error);
    }
  }

  /** @internal SessionHost */
  authenticate(username: string, password: string, connection: ConnectionInfo): Promise<AuthenticatedUser> {
    // one attempt per address and per username at a time, each checked against the failures before it
    return this.loginGuard.serialize(connection.remoteAddress, username, () => this.attemptLogin(username, password, connection));
  }

  private async attemptLogin(username: string, password: string, connection: ConnectionInfo): Promise<AuthenticatedUser> {
    const fail = (code: 'EAUTH' | 'ETHROTTLED' | 'EIO', message: string, cause?: unknown): never => {
      this.emitSafe('loginFailed', { connection, username, code });
      throw new FileShareError(code, message, cause === undefined ? undefined : { cause });
    };
    const wait = this.loginGuard.check(connection.remoteAddress, username);
    if (wait > 0) fail('ETHROTTLED', `too many failed logins; try again in ${Math.ceil(wait / 1000)} s`);
    let user: AuthenticatedUser | null;
    try {
      user = await this.opts.auth.authenticate(username, password, {
        remoteAddress: connection.remoteAddress,
        remotePort: connection.remotePort,
        secure: connection.secure,
      });
    } catch (err) {
      // Not emitted as 'error' here: the session reports every EIO once (with this message and
      // cause) and sends the client only a generic message.
      return fail('EIO', `auth provider failed: ${(err as Error)?.message ?? err}`, err);
    }
    if (!user) {
      this.loginGuard.recordFailure(connection.remoteAddress, username);
      return fail('EAUTH', 'invalid username or password');
    }
    this.loginGuard.recordSuccess(connection.remoteAddress, username);
    return user;
  }

  /** @internal SessionHost */
  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    const address = session.info.remoteAddress;
    const count = (this.perAddress.get(address) ?? 1) - 1;
    if (count <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, count);
  }

  private warn(message: string): void {
    if (this.listenerCount('warning') > 0) this.emitSafe('warning', message);
    else process.emitWarning(message, { code: 'FILESHARE_PLAINTEXT' });
  }
}

/** Temporary files of ordinary uploads older than this can only be crash leftovers: 1 hour. */
const ABANDONED_TEMP_TTL = 3_600_000;

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1' || address === 'localhost';
}
