import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { AuthenticatedUser, Permission } from '../auth/types.ts';
import { FileShareError, toFileShareError } from '../errors.ts';
import { parseJsonObject } from '../protocol/fields.ts';
import { errorBody } from '../protocol/control.ts';
import { type Frame, FrameType, MAX_PING_BODY, frameTypeName } from '../protocol/frame.ts';
import { encodeHello, parseHelloFrame } from '../protocol/hello.ts';
import type { OperationName } from '../protocol/operations.ts';
import type { Storage } from '../storage/types.ts';
import { FrameConnection } from '../transport/frame-connection.ts';
import { stallCheckInterval } from '../transport/stall.ts';
import type { ServerMetrics } from '../metrics/events.ts';
import type { Authenticator, LoginGrant } from './authenticator.ts';
import type { ProbeGrant } from './probe-responder.ts';
import type { QuotaAccounts } from './quota-ledger.ts';
import type { ResumeLockTable } from './resume-lock.ts';
import type { ConnectionInfo } from './events.ts';
import type { ResolvedServerOptions } from './options.ts';
import type { LoginAnswer, ServerEventSink } from './request-context.ts';
import { ActiveRequest, type RequestHost } from './active-request.ts';
import { EagerBudget } from './eager-budget.ts';
import { MAX_BATCH_BYTES } from './handlers/upload-batch.ts';
import type { Handler } from './handlers/handler.ts';
import { HANDLERS } from './handlers/index.ts';

/** What a session needs from the server core. @internal */
export interface SessionHost {
  readonly options: ResolvedServerOptions;
  /** The root storage; a session scopes it to its user's home. */
  readonly storage: Storage;
  readonly metrics: ServerMetrics;
  /** Quota accounts shared by each user's concurrent uploads. */
  readonly quotas: QuotaAccounts;
  /** Resume locks shared by all nodes, when the server has them. */
  readonly resumeLocks: ResumeLockTable;
  readonly authenticator: Authenticator;
  readonly shuttingDown: boolean;
  /** Emit a server event; listener exceptions never reach the session. */
  readonly emit: ServerEventSink;
  /** The session is gone. */
  sessionClosed(session: Session): void;
  /** A UDP probe key for a session that logged in; undefined when the server answers no probes. */
  probeGrant(session: Session): ProbeGrant | undefined;
}

/**
 * One client connection on the server: handshake, login, request dispatch and the life cycle of
 * every request in flight. Commands live in handlers/, one per file; this class only routes frames.
 * @internal
 */
export class Session implements RequestHost {
  readonly connection: FrameConnection;
  readonly eager: EagerBudget;
  private currentUser: AuthenticatedUser | null = null;
  private granted: ReadonlySet<Permission> = new Set();
  private userStorage: Storage | null = null;
  private windowOfPeer = 0;
  private loggingIn = false;
  private handshakeDone = false;
  private lastRequestId = 0;
  private readonly requests = new Map<number, ActiveRequest>();
  private readonly timers: NodeJS.Timeout[] = [];
  private loginTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly transport: Duplex,
    readonly info: ConnectionInfo,
    private readonly host: SessionHost,
  ) {
    const { options } = host;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.eager = new EagerBudget(options.eagerUploadBytes, options.eagerUploadTotal);
    this.connection = new FrameConnection(transport, {
      maxFrameSize: options.maxFrameSize,
      chunkSize: options.chunkSize,
      onFrame: (frame) => this.onFrame(frame),
      onClose: (error) => this.onClose(error),
    });
    this.handshakeTimer = setTimeout(() => this.timeout('no HELLO within the handshake timeout'), options.handshakeTimeout);
    this.addTimer(this.handshakeTimer);
    this.loginTimer = setTimeout(() => this.timeout('not logged in within the login timeout'), options.loginTimeout);
    this.timers.push(this.loginTimer);
    const idleCheck = stallCheckInterval(Math.min(options.idleTimeout, options.frameTimeout, options.stallTimeout));
    this.addTimer(setInterval(() => this.checkIdle(), idleCheck));
  }

  /** Resolves once the connection is closed and every request has been cleaned up. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  get requestsInFlight(): number {
    return this.requests.size;
  }

  /** Begin a graceful shutdown: GOAWAY, then close when idle. */
  goAway(reason: string): void {
    this.connection.sendJson(FrameType.GOAWAY, 0, { reason });
    if (this.requests.size === 0) this.connection.end();
  }

  /** Cut the connection now (after the shutdown grace period). */
  destroy(reason: string): void {
    this.connection.destroy(new FileShareError('ECLOSED', reason));
  }

  /** The logged-in user, if any. */
  get user(): AuthenticatedUser | null {
    return this.currentUser;
  }

  /** The storage scoped to the user's home, once logged in. */
  get storage(): Storage | null {
    return this.userStorage;
  }

  /** What the logged-in user may do. */
  get permissions(): ReadonlySet<Permission> {
    return this.granted;
  }

  /** Peer's announced window: initial credit for downloads we send. */
  get peerWindow(): number {
    return this.windowOfPeer;
  }

  get options(): ResolvedServerOptions {
    return this.host.options;
  }

  get metrics(): ServerMetrics {
    return this.host.metrics;
  }

  get quotas(): QuotaAccounts {
    return this.host.quotas;
  }

  get resumeLocks(): ResumeLockTable {
    return this.host.resumeLocks;
  }

  get emit(): ServerEventSink {
    return this.host.emit;
  }

  /** Log in on this connection: one attempt at a time, and only once. */
  login(username: string, password: string): Promise<LoginAnswer> {
    return this.loginWith(() => this.host.authenticator.login(username, password, this.info, this.host.storage, this.binding()));
  }

  /** Log in with a resumption token: one attempt at a time, and only once. */
  resume(token: string): Promise<LoginAnswer> {
    return this.loginWith(() => this.host.authenticator.resume(token, this.info, this.binding(), this.host.storage));
  }

  private async loginWith(attempt: () => Promise<LoginGrant>): Promise<LoginAnswer> {
    if (this.currentUser) throw new FileShareError('EINVAL', `already logged in as ${this.currentUser.username}`);
    if (this.loggingIn) throw new FileShareError('EBUSY', 'a login is already in progress on this connection');
    this.loggingIn = true;
    try {
      const grant = await attempt();
      this.currentUser = grant.user;
      this.userStorage = grant.storage;
      this.granted = new Set(grant.permissions);
      if (this.loginTimer) clearTimeout(this.loginTimer);
      const udpProbe = this.host.probeGrant(this);
      return {
        username: grant.user.username,
        permissions: grant.permissions,
        ...(udpProbe && { udpProbe }),
        ...(grant.resume ? { resumeToken: grant.resume.token, resumeExpiresAt: grant.resume.expiresAt } : {}),
      };
    } finally {
      this.loggingIn = false;
    }
  }

  /**
   * What a resumption token is bound to: plain TCP, or TLS with the certificate this server
   * presented on this connection, so that a token never works under another certificate.
   */
  private binding(): string {
    if (!(this.transport instanceof TLSSocket)) return 'tcp';
    const cert = this.transport.getCertificate();
    const fingerprint = cert !== null && 'fingerprint256' in cert ? cert.fingerprint256 : undefined;
    return `tls:${fingerprint ?? 'unknown'}`;
  }

  /** Send the final response of a request and forget it. */
  finishRequest(request: ActiveRequest, result: object | FileShareError): void {
    if (!this.requests.delete(request.id)) return;
    // the client's idle time starts when it has the answer: a slow request (a login queued behind
    // other bcrypt checks) must not use it up before the client could send its next one
    this.connection.lastActivity = Date.now();
    if (result instanceof FileShareError) {
      this.connection.sendJson(FrameType.ERROR, request.id, errorBody(result));
      this.host.emit('requestFailed', { connection: this.info, username: this.currentUser?.username, op: request.op, error: result });
    } else {
      this.connection.sendJson(FrameType.RESPONSE, request.id, result);
    }
    if (this.host.shuttingDown && this.requests.size === 0) this.connection.end();
  }

  private onFrame(frame: Frame): void {
    if (!this.handshakeDone) {
      if (frame.type === FrameType.HELLO) return this.onHello(frame);
      if (frame.type === FrameType.PING) return this.onPing(frame);
      throw new FileShareError('EPROTO', `expected HELLO, got ${frameTypeName(frame.type)}`);
    }
    switch (frame.type) {
      case FrameType.REQUEST:
        return this.onRequest(frame);
      case FrameType.PING:
        return this.onPing(frame);
      case FrameType.DATA:
      case FrameType.END:
      case FrameType.CREDIT:
      case FrameType.CANCEL:
        return this.onStreamFrame(frame);
      default:
        throw new FileShareError('EPROTO', `unexpected ${frameTypeName(frame.type)} frame from a client`);
    }
  }

  private onHello(frame: Frame): void {
    const hello = parseHelloFrame(frame.body);
    const { options } = this.host;
    this.windowOfPeer = hello.window;
    this.connection.peerMaxFrameSize = hello.maxFrameSize;
    this.handshakeDone = true;
    // the handshake is over: without this, every connection was cut after handshakeTimeout
    clearTimeout(this.handshakeTimer);
    this.connection.send(
      encodeHello({
        maxFrameSize: options.maxFrameSize,
        window: options.window,
        eagerBytes: options.eagerUploadBytes,
        eagerTotal: options.eagerUploadTotal,
        maxRequests: options.maxRequestsInFlight,
        batchFiles: options.maxBatchFiles,
        batchBytes: MAX_BATCH_BYTES,
      }),
    );
  }

  private onPing(frame: Frame): void {
    if (frame.body.length > MAX_PING_BODY) throw new FileShareError('EPROTO', `PING body over ${MAX_PING_BODY} bytes`);
    this.connection.sendAlone(FrameType.PONG, frame.stream, frame.body);
  }

  private onRequest(frame: Frame): void {
    const id = frame.stream;
    if (id <= this.lastRequestId) throw new FileShareError('EPROTO', `request id ${id} is not above the previous ${this.lastRequestId}`);
    this.lastRequestId = id;
    const reject = (err: FileShareError) => this.connection.sendJson(FrameType.ERROR, id, errorBody(err));
    if (this.host.shuttingDown) return reject(new FileShareError('ECLOSED', 'the server is shutting down'));
    if (this.requests.size >= this.host.options.maxRequestsInFlight) {
      return reject(new FileShareError('EBUSY', `more than ${this.host.options.maxRequestsInFlight} requests in flight`));
    }
    let args;
    try {
      args = parseJsonObject(frame.body, 'REQUEST');
    } catch (err) {
      return reject(err as FileShareError);
    }
    const op = typeof args.op === 'string' ? args.op : '';
    const handler: Handler | undefined = Object.hasOwn(HANDLERS, op) ? HANDLERS[op as OperationName] : undefined;
    if (!handler) return reject(new FileShareError('EPROTO', `unknown operation ${JSON.stringify(op).slice(0, 80)}`));
    if (!this.currentUser && !handler.beforeLogin) return reject(new FileShareError('ENOTAUTH', 'log in first'));
    const request = new ActiveRequest(id, op, args, this);
    this.requests.set(id, request);
    const done = handler
      .run(request)
      .then(
        (result) => this.finishRequest(request, result ?? {}),
        (err: unknown) => this.finishRequest(request, this.publicError(err, op)),
      )
      .finally(() => request.cleanup());
    request.trackCompletion(done);
  }

  private onStreamFrame(frame: Frame): void {
    const request = this.requests.get(frame.stream);
    if (!request) {
      // late frames of a finished request are expected; frames for ids never used are not
      if (frame.stream > this.lastRequestId || frame.stream === 0) {
        throw new FileShareError('EPROTO', `${frameTypeName(frame.type)} for unknown stream ${frame.stream}`);
      }
      return;
    }
    request.onStreamFrame(frame);
  }

  /** Turn an arbitrary failure into what the client may see: internal details stay in the log. */
  private publicError(err: unknown, op: string): FileShareError {
    const error = toFileShareError(err);
    if (error.code === 'EIO') {
      this.host.emit('error', new Error(`${op} failed for connection ${this.info.id}: ${error.message}`, { cause: err }));
      return new FileShareError('EIO', `${op} failed on the server`);
    }
    return error;
  }

  private timeout(why: string): void {
    this.connection.fail(new FileShareError('ETIMEDOUT', why));
  }

  private checkIdle(): void {
    const now = Date.now();
    const { idleTimeout, frameTimeout } = this.host.options;
    const partialSince = this.connection.partialFrameSince;
    if (partialSince !== undefined && now - partialSince > frameTimeout)
      return this.timeout('a frame did not complete within the frame timeout');
    for (const request of this.requests.values()) {
      const stalled = request.stalled(now);
      if (stalled) return this.timeout(stalled);
    }
    // Requests the server is still working on keep the connection; requests that only wait for the
    // client do not, or a client that opened an upload and went silent (or whose network died
    // without a FIN) would hold its connection and upload lock forever.
    for (const request of this.requests.values()) if (!request.waitingForPeer) return;
    if (now - this.connection.lastActivity > idleTimeout) this.timeout('idle timeout');
  }

  private addTimer(timer: NodeJS.Timeout): void {
    this.timers.push(timer);
  }

  private onClose(error: FileShareError | undefined): void {
    for (const timer of this.timers) clearTimeout(timer);
    const reason = error ?? new FileShareError('ECLOSED', 'connection closed');
    const pending = [...this.requests.values()].map((request) => request.abort(reason));
    this.requests.clear();
    void Promise.allSettled(pending).then(() => {
      this.host.emit('disconnect', { connection: this.info, username: this.currentUser?.username, error });
      this.host.sessionClosed(this);
      this.resolveClosed();
    });
  }
}
