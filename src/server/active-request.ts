import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { AuthenticatedUser, Permission } from '../auth/types.ts';
import { FileShareError } from '../errors.ts';
import type { ServerMetrics } from '../metrics/events.ts';
import { type JsonObject, MAX_JSON_BODY, parseJsonObject, requireCount, requireSha256, requireString } from '../protocol/fields.ts';
import { parseCredit } from '../protocol/control.ts';
import { encodeCredit, encodeJsonFrame } from '../protocol/encoder.ts';
import { type Frame, FrameType, LENGTH_OVERHEAD } from '../protocol/frame.ts';
import { normalizeRemotePath } from '../storage/remote-path.ts';
import type { Storage } from '../storage/types.ts';
import type { FrameConnection } from '../transport/frame-connection.ts';
import { IncomingStream } from '../transport/incoming-stream.ts';
import { StallClock } from '../transport/stall.ts';
import { OutgoingStream } from '../transport/outgoing-stream.ts';
import type { ConnectionInfo } from './events.ts';
import type { ResolvedServerOptions } from './options.ts';
import type { QuotaAccounts, QuotaReservation } from './quota-ledger.ts';
import type { EagerBudget } from './eager-budget.ts';
import type { HeldResumeLock, ResumeLockTable } from './resume-lock.ts';
import type { LoginAnswer, ReceiveOptions, RequestContext, SendOptions, ServerEventSink, StreamTotals } from './request-context.ts';

/** What a request needs from its session (and, through it, from the server). @internal */
export interface RequestHost {
  readonly connection: FrameConnection;
  readonly info: ConnectionInfo;
  readonly user: AuthenticatedUser | null;
  readonly storage: Storage | null;
  readonly permissions: ReadonlySet<Permission>;
  /** Peer's announced window: initial credit for downloads we send. */
  readonly peerWindow: number;
  readonly options: ResolvedServerOptions;
  readonly metrics: ServerMetrics;
  readonly quotas: QuotaAccounts;
  readonly resumeLocks: ResumeLockTable;
  readonly emit: ServerEventSink;
  /** The connection's allowance for upload data sent before its go-ahead. */
  readonly eager: EagerBudget;
  login(username: string, password: string): Promise<LoginAnswer>;
  resume(token: string): Promise<LoginAnswer>;
}

/**
 * One request in flight on the server: the {@link RequestContext} its handler works with, and the
 * session's handle on it (stream frames in, abort, cleanup).
 * @internal
 */
export class ActiveRequest implements RequestContext {
  /** Made when first needed: most requests are never aborted, nor is their signal asked for. */
  private controller: AbortController | undefined;
  private abortReason: FileShareError | undefined;
  private incoming: IncomingStream | undefined;
  /** Watches the stall rule while this request receives an upload. */
  private stallClock: StallClock | undefined;
  private outgoing: OutgoingStream | undefined;
  private endWaiter: { resolve: (totals: StreamTotals) => void; reject: (err: FileShareError) => void } | undefined;
  private settled: Promise<void> = Promise.resolve();
  /** Bytes of a resumed upload that were already stored before this request: END counts them. */
  private baseBytes = 0;
  /** The sender declared the end of its data: anything more on this stream breaks the protocol. */
  private endReceived = false;
  /** Parts sent that wait for the transport to drain. */
  private drainWaits = 0;
  /**
   * A new upload's data that came before its go-ahead (copies, so no socket buffer stays pinned),
   * and its END if that came too: written by {@link receive}, dropped if the request fails first.
   */
  private eagerData: Buffer[] | undefined;
  private eagerBytes = 0;
  private eagerEnd: Frame | undefined;
  /** Eager data is no longer accepted: the go-ahead was given, or the request failed. */
  private eagerClosed = false;

  constructor(
    readonly id: number,
    readonly op: string,
    readonly args: JsonObject,
    private readonly host: RequestHost,
  ) {}

  /** Aborted when the client cancels the request or the connection is lost. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /**
   * Whether the request is waiting for the client rather than for the server's own work: an upload
   * whose sender has credit but sends nothing, or a download stalled until the client grants credit.
   * The session's idle timeout applies to such requests, so a client cannot hold a connection (and
   * a resumable upload's lock) forever by opening a transfer and going silent.
   */
  /**
   * The stall rule (docs/security.md): the message of the ETIMEDOUT when an upload's data, due
   * from the client, moved fewer than `stallBytes` in `stallTimeout`; undefined otherwise.
   */
  stalled(now: number): string | undefined {
    const incoming = this.incoming;
    // Before the first byte, the client may still be hashing the start of its file (a resume proves
    // its kept prefix first, which takes a while for a large one): idleTimeout covers that silence.
    if (!incoming || !this.endWaiter || incoming.receivedBytes === 0) return undefined;
    const { stallBytes, stallTimeout } = this.host.options;
    this.stallClock ??= new StallClock(stallBytes, stallTimeout, incoming.receivedBytes, now);
    return this.stallClock.check(incoming.receivedBytes, incoming.awaitingData, now) ? this.stallClock.describe('an upload') : undefined;
  }

  get waitingForPeer(): boolean {
    if (this.drainWaits > 0) return true; // the client does not read what it asked for
    if (!this.endWaiter) return false; // no stream in progress: the handler is working
    if (this.incoming) return this.incoming.awaitingData;
    return this.outgoing?.awaitingCredit ?? false;
  }

  get connection(): ConnectionInfo {
    return this.host.info;
  }

  get user(): AuthenticatedUser {
    if (!this.host.user) throw new FileShareError('ENOTAUTH', 'log in first');
    return this.host.user;
  }

  get storage(): Storage {
    if (!this.host.storage) throw new FileShareError('ENOTAUTH', 'log in first');
    return this.host.storage;
  }

  get limits(): ResolvedServerOptions {
    return this.host.options;
  }

  get emit(): ServerEventSink {
    return this.host.emit;
  }

  get metrics(): ServerMetrics {
    return this.host.metrics;
  }

  get maxPartialBody(): number {
    // the client may announce a frame limit as small as 1 KiB in its HELLO
    return Math.min(this.host.connection.peerMaxFrameSize - LENGTH_OVERHEAD, MAX_JSON_BODY);
  }

  async joinQuota(): Promise<QuotaReservation | undefined> {
    const { quotaBytes, username, home } = this.user;
    const storage = this.storage;
    if (quotaBytes === undefined || !storage.usage) return undefined;
    return this.host.quotas.join(`${username}\0${home ?? ''}`, async () => Math.max(0, quotaBytes - (await storage.usage!('/'))));
  }

  lockResume(key: string, takeover: () => Promise<void>): Promise<HeldResumeLock> {
    const { username, home } = this.user;
    // one user's key never locks another's upload: the key is only unique within a home
    const scoped = createHash('sha256')
      .update(username)
      .update('\0')
      .update(home ?? '')
      .update('\0')
      .update(key)
      .digest('hex');
    return this.host.resumeLocks.acquire(scoped, takeover);
  }

  login(username: string, password: string): Promise<LoginAnswer> {
    return this.host.login(username, password);
  }

  resume(token: string): Promise<LoginAnswer> {
    return this.host.resume(token);
  }

  closeAfterResponse(): void {
    // the RESPONSE is written when the handler's promise settles: close after that
    setImmediate(() => this.host.connection.end());
  }

  /** A normalised remote path from argument `key`. @throws EINVAL, EACCES */
  path(key = 'path'): string {
    return normalizeRemotePath(requireString(this.args, key));
  }

  /** Whether argument `key` was written with a trailing `/` (other than `/` itself): POSIX says it names a folder. */
  namesFolder(key = 'path'): boolean {
    const raw = requireString(this.args, key);
    return /\/\.?$/.test(raw) && normalizeRemotePath(raw) !== '/';
  }

  /** @throws EACCES unless the user has `permission`. */
  require(permission: Permission): void {
    if (!this.host.permissions.has(permission)) {
      throw new FileShareError('EACCES', `permission denied: ${this.user.username} may not ${permission}`);
    }
  }

  /** Send a non-final part of the response. */
  partial(value: object): Promise<void> {
    this.throwIfAborted();
    const { connection } = this.host;
    connection.sendJson(FrameType.PARTIAL, this.id, value);
    const writable = connection.whenWritable();
    this.drainWaits++;
    return writable.finally(() => this.drainWaits--);
  }

  /**
   * Receive an upload's data into `sink`: announce the go-ahead at `offset`, then take DATA frames
   * (hashing them) until END, and check the sender's byte count and SHA-256. Resolves once the
   * sink has flushed everything. @throws EINTEGRITY, ETOOLARGE, EQUOTA, EABORTED, ECLOSED
   */
  receive(sink: Writable, options: ReceiveOptions = {}): Promise<StreamTotals> {
    this.throwIfAborted();
    const { connection, options: limits } = this.host;
    const done = new Promise<StreamTotals>((resolve, reject) => (this.endWaiter = { resolve, reject }));
    this.incoming = new IncomingStream(sink, {
      window: limits.window,
      sendCredit: (bytes) => connection.send(encodeCredit(this.id, bytes)),
      maxBytes: options.maxBytes,
      maxBytesCode: options.maxBytesCode,
      accept: options.accept,
      seedHash: options.seedHash,
      onChunk: options.onChunk,
      onFailure: (err) => this.failStream(err),
    });
    this.baseBytes = options.offset ?? 0;
    const end = this.eagerEnd;
    this.replayEager();
    // a client whose whole upload came before the go-ahead needs none: it waits for the answer
    if (!end) {
      void this.partial(options.prefixSha256 ? { offset: this.baseBytes, prefixSha256: options.prefixSha256 } : { offset: this.baseBytes });
    }
    return done;
  }

  /** Write the data (and END) that came before the go-ahead, in order, as if it came now. */
  private replayEager(): void {
    const data = this.eagerData;
    const end = this.eagerEnd;
    this.releaseEager();
    const incoming = this.incoming!;
    for (const body of data ?? []) incoming.push(body);
    if (end && this.endWaiter) {
      this.endReceived = false;
      this.onEnd(end);
    }
  }

  /** Data before the go-ahead: held within the allowance while the handler prepares the upload. */
  private holdEager(frame: Frame): void {
    if (this.eagerClosed) return; // the request failed: its data in flight is dropped
    if (!this.eagerAllowed()) throw new FileShareError('EPROTO', `DATA on stream ${this.id}, which is not receiving`);
    const body = frame.body;
    this.host.eager.take(body.length, this.eagerBytes, this.id);
    this.eagerBytes += body.length;
    (this.eagerData ??= []).push(Buffer.from(body));
  }

  /**
   * Whether this request may get data before its go-ahead: a new upload (or discard, or batch of
   * new files), never a resumed one, whose go-ahead carries an offset and a prefix hash the client must check first.
   */
  private eagerAllowed(): boolean {
    if (this.host.eager.perRequest === 0) return false;
    if (this.op !== 'upload' && this.op !== 'discard' && this.op !== 'upload-batch') return false;
    const resume = this.args.resume;
    return resume === undefined || resume === null || resume === false;
  }

  /** Stop holding eager data (written now, or dropped) and give its bytes back to the connection. */
  private releaseEager(): void {
    this.eagerClosed = true;
    this.host.eager.give(this.eagerBytes);
    this.eagerBytes = 0;
    this.eagerData = undefined;
    this.eagerEnd = undefined;
  }

  /**
   * Send `source` as DATA frames within the client's credit. Resolves when every byte has been
   * handed to the socket; the caller then returns the final response.
   */
  send(source: Readable, options: SendOptions = {}): Promise<StreamTotals> {
    this.throwIfAborted();
    const { connection } = this.host;
    return new Promise<StreamTotals>((resolve, reject) => {
      this.endWaiter = { resolve, reject };
      this.outgoing = new OutgoingStream(
        this.id,
        source,
        this.host.peerWindow,
        connection.schedule,
        {
          onEnd: (bytes, sha256) => this.settleStream({ bytes, sha256 }),
          onError: (err) => this.failStream(err),
          onChunk: options.onChunk,
        },
        options.seedHash,
        options.partial && encodeJsonFrame(FrameType.PARTIAL, this.id, options.partial),
      );
      connection.addSender(this.outgoing);
    });
  }

  /** DATA, END, CREDIT or CANCEL for this request. */
  onStreamFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.DATA:
        // a stream that failed keeps accepting (and dropping) data in flight, but its credit is still enforced
        if (this.endReceived) throw new FileShareError('EPROTO', `DATA on stream ${this.id} after its END`);
        if (!this.incoming) return this.holdEager(frame);
        this.incoming.push(frame.body);
        return;
      case FrameType.END:
        return this.onEnd(frame);
      case FrameType.CREDIT: {
        const bytes = parseCredit(frame);
        this.outgoing?.grant(bytes);
        return;
      }
      case FrameType.CANCEL:
        this.cancelWith(new FileShareError('EABORTED', 'cancelled by the client'));
        return;
    }
  }

  /** Abort (the connection is gone, a newer attempt took over) and wait until the handler has cleaned up. */
  abort(reason: FileShareError): Promise<void> {
    this.cancelWith(reason);
    return this.settled;
  }

  /** @internal set by the session: the handler's completion. */
  trackCompletion(done: Promise<void>): void {
    this.settled = done;
  }

  /** Release streams once the request is over. */
  cleanup(): void {
    this.releaseEager();
    this.incoming?.stop();
    this.outgoing?.cancel();
    if (this.outgoing) this.host.connection.removeSender(this.outgoing);
  }

  private onEnd(frame: Frame): void {
    const incoming = this.incoming;
    if (this.endReceived) throw new FileShareError('EPROTO', `a second END on stream ${this.id}`);
    if (!incoming) {
      if (this.eagerClosed) return;
      if (!this.eagerAllowed()) throw new FileShareError('EPROTO', `END on stream ${this.id}, which is not receiving`);
      parseJsonObject(frame.body, 'END'); // a malformed END is a connection error, as after the go-ahead
      this.endReceived = true;
      this.eagerEnd = { type: frame.type, stream: frame.stream, body: Buffer.from(frame.body) };
      return;
    }
    this.endReceived = true;
    const body = parseJsonObject(frame.body, 'END');
    let declared: { bytes: number; sha256: string };
    try {
      declared = { bytes: requireCount(body, 'bytes'), sha256: requireSha256(body, 'sha256') };
    } catch (err) {
      return this.failStream(err as FileShareError);
    }
    const total = this.baseBytes + incoming.receivedBytes;
    if (declared.bytes !== total) {
      return this.failStream(new FileShareError('EINTEGRITY', `sender declared ${declared.bytes} bytes but the file has ${total}`));
    }
    incoming.finish().then(
      (totals) => {
        if (totals.sha256 !== declared.sha256) {
          this.failStream(new FileShareError('EINTEGRITY', "SHA-256 of the received data does not match the sender's"));
        } else {
          this.settleStream({ bytes: total, sha256: totals.sha256 });
        }
      },
      (err: FileShareError) => this.failStream(err),
    );
  }

  private cancelWith(reason: FileShareError): void {
    if (!this.abortReason) {
      this.abortReason = reason;
      this.controller?.abort(reason);
    }
    this.failStream(reason);
  }

  private settleStream(totals: StreamTotals): void {
    const waiter = this.endWaiter;
    this.endWaiter = undefined;
    waiter?.resolve(totals);
  }

  private failStream(err: FileShareError): void {
    this.releaseEager();
    this.incoming?.stop();
    if (this.outgoing) {
      this.outgoing.cancel();
      this.host.connection.removeSender(this.outgoing);
    }
    const waiter = this.endWaiter;
    this.endWaiter = undefined;
    waiter?.reject(err);
  }

  private throwIfAborted(): void {
    if (this.abortReason) throw this.abortReason;
  }
}
