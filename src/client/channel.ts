import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { FileShareError } from '../errors.ts';
import { parseCredit, parseErrorBody, parseGoAway } from '../protocol/control.ts';
import { type JsonObject, parseJsonObject } from '../protocol/fields.ts';
import { type Frame, FrameType, HEADER_SIZE, LENGTH_OVERHEAD, frameTypeName } from '../protocol/frame.ts';
import { encodeJsonFrame } from '../protocol/encoder.ts';
import { type Hello, encodeHello, parseHelloFrame } from '../protocol/hello.ts';
import type { OperationName, RequestOf } from '../protocol/operations.ts';
import { FrameConnection } from '../transport/frame-connection.ts';
import { StallClock, stallCheckInterval } from '../transport/stall.ts';
import { abortError, onAbort, throwIfAborted } from './abort.ts';
import { DownloadChannelStream, type PendingRequest, UploadChannelStream } from './channel-streams.ts';
import type { ResolvedClientOptions } from './options.ts';
import { checkFingerprint, normalizeFingerprint } from './fingerprint.ts';

/**
 * The client's side of one connection: connect (TCP or TLS, with an optional certificate pin),
 * the HELLO exchange, request ids, routing of every frame to its request, pings, and one close
 * path that rejects everything still pending with the first error.
 * @internal
 */
export class ClientChannel {
  connection: FrameConnection | undefined;
  serverHello: Hello | undefined;
  private peerAddress: string | undefined;
  /** The SHA-256 fingerprint (lower-case hex) of the certificate the server presented; undefined over plain TCP. */
  peerFingerprint256: string | undefined;
  private nextId = 1;
  private nextPingSeq = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly pings = new Map<number, { resolve: (ms: number) => void; reject: (e: FileShareError) => void; sentAt: number }>();
  private failure: FileShareError | undefined;
  private goingAway = false;
  private closedByUs = false;
  /** We asked the server to close (logout): its close is no loss. */
  private closeExpected = false;
  /** Set while the socket connects: makes open() fail with ECLOSED. */
  private cancelOpen: (() => void) | undefined;
  private helloWaiter: { resolve: () => void; reject: (e: FileShareError) => void } | undefined;
  /** Eager credit given to uploads still waiting for their go-ahead (within the server's `eagerTotal`). */
  private eagerHeld = 0;

  constructor(
    private readonly options: ResolvedClientOptions,
    private readonly onClosed: (error: FileShareError | undefined) => void,
    private readonly onGoAway: (reason: string) => void,
  ) {}

  get isOpen(): boolean {
    return this.connection !== undefined && !this.connection.isClosed && this.failure === undefined;
  }

  /** Open the socket and complete the handshake. @throws EABORTED when `signal` aborts first */
  async open(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const { host, port, connectTimeout } = this.options;
    const socket = await this.openSocket(host, port, connectTimeout, signal);
    if (this.closedByUs) {
      socket.destroy(); // close() came between the connect and this continuation
      throw new FileShareError('ECLOSED', `close() was called while connecting to ${host}:${port}`);
    }
    this.peerAddress = socket.remoteAddress;
    await this.attach(socket, `${host}:${port}`, signal);
  }

  /** The server's IP address, when the transport is a socket. */
  get remoteAddress(): string | undefined {
    return this.peerAddress;
  }

  /**
   * Run the protocol over an open byte stream (a socket, or any Duplex: an in-memory pair in tests)
   * and complete the handshake within `connectTimeout`.
   */
  async attach(transport: Duplex, peer: string, signal?: AbortSignal): Promise<void> {
    const { connectTimeout } = this.options;
    const connection = new FrameConnection(transport, {
      maxFrameSize: this.options.maxFrameSize,
      chunkSize: this.options.chunkSize,
      onFrame: (frame) => this.onFrame(frame),
      onClose: (error) => this.onClose(error),
    });
    this.connection = connection;
    const helloDone = new Promise<void>((resolve, reject) => (this.helloWaiter = { resolve, reject }));
    connection.send(encodeHello(this.options));
    const timer = setTimeout(
      () => connection.fail(new FileShareError('ETIMEDOUT', `no HELLO from ${peer} within ${connectTimeout} ms`)),
      connectTimeout,
    );
    const stopListening = onAbort(signal, () => {
      const error = abortError(signal!);
      this.failure ??= error;
      this.helloWaiter?.reject(error);
      connection.destroy(error);
    });
    try {
      await helloDone;
    } finally {
      clearTimeout(timer);
      stopListening();
    }
  }

  private openSocket(host: string, port: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<net.Socket> {
    const tlsOptions = this.options.tls;
    return new Promise<net.Socket>((resolve, reject) => {
      let socket: net.Socket;
      if (tlsOptions) {
        const { fingerprint256, ...rest } = tlsOptions;
        const pinned = fingerprint256 !== undefined;
        socket = tls.connect({
          host,
          port,
          // tls.connect passes net options such as localAddress on to the TCP socket
          ...({ localAddress: this.options.localAddress } as object),
          servername: net.isIP(host) ? undefined : host,
          ...rest,
          // a pin replaces CA validation unless the caller explicitly asks for both
          rejectUnauthorized: rest.rejectUnauthorized ?? !pinned,
          ...(pinned && rest.rejectUnauthorized !== true ? { checkServerIdentity: () => undefined } : {}),
        });
      } else {
        socket = net.connect({ host, port, localAddress: this.options.localAddress });
      }
      const timer = setTimeout(
        () => fail(new FileShareError('ETIMEDOUT', `could not connect to ${host}:${port} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const stopListening = onAbort(signal, () => fail(abortError(signal!)));
      const fail = (err: FileShareError) => {
        clearTimeout(timer);
        this.cancelOpen = undefined;
        stopListening();
        socket.destroy();
        reject(err);
      };
      // close() while the socket connects: give up now (before, the connect went on and succeeded)
      this.cancelOpen = () => fail(new FileShareError('ECLOSED', `close() was called while connecting to ${host}:${port}`));
      socket.once('error', (err: NodeJS.ErrnoException) => fail(connectError(err, host, port)));
      socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.cancelOpen = undefined;
        stopListening();
        socket.removeAllListeners('error');
        if (tlsOptions?.fingerprint256 !== undefined) {
          const mismatch = checkFingerprint(socket as tls.TLSSocket, tlsOptions.fingerprint256);
          if (mismatch) return fail(mismatch);
        }
        if (tlsOptions) {
          const seen = (socket as tls.TLSSocket).getPeerCertificate()?.fingerprint256;
          this.peerFingerprint256 = seen ? normalizeFingerprint(seen) : undefined;
        }
        resolve(socket);
      });
    });
  }

  /** Send a request; resolves with the final RESPONSE body. */
  request<Op extends OperationName>(
    op: Op,
    args: RequestOf<Op>,
    hooks: Partial<Pick<PendingRequest, 'onPartial'>> = {},
    timeoutMs?: number,
  ): { id: number; done: Promise<JsonObject>; entry: PendingRequest } {
    const connection = this.requireOpen();
    const id = this.nextId++;
    const frame = encodeJsonFrame(FrameType.REQUEST, id, { op, ...args });
    // A frame over the server's limit is a connection error there, which would fail every other
    // request and transfer on this connection: refuse the one bad request here instead.
    if (frame.length - (HEADER_SIZE - LENGTH_OVERHEAD) > connection.peerMaxFrameSize) {
      throw new FileShareError(
        'EINVAL',
        `the ${op} request is ${frame.length} bytes, over the server's frame limit of ${connection.peerMaxFrameSize}`,
      );
    }
    let entry!: PendingRequest;
    const done = new Promise<JsonObject>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        if (timer) clearTimeout(timer);
        this.pending.delete(id);
      };
      entry = {
        id,
        op,
        resolve: (value) => (settle(), resolve(value)),
        reject: (error) => (settle(), reject(error)),
        ...hooks,
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => entry.reject(new FileShareError('ETIMEDOUT', `${op} got no answer within ${timeoutMs} ms`)), timeoutMs);
      }
    });
    this.pending.set(id, entry);
    connection.send(frame);
    return { id, done, entry };
  }

  /**
   * Start an upload (or a discard, or a batch of files) stream: the REQUEST now; `onGoAhead` with
   * the server's first PARTIAL (later ones are not go-aheads), after which the returned stream's
   * `send` streams the data. `size` is the data's length when the arguments do not say it (a
   * batch's files together); `timeoutMs` bounds the wait for the answer.
   */
  startUpload<Op extends 'upload' | 'discard' | 'upload-batch'>(
    op: Op,
    args: RequestOf<Op>,
    onGoAhead: (goAhead: JsonObject) => void,
    eager = false,
    { size = 'size' in args ? args.size : undefined, timeoutMs }: { size?: number | undefined; timeoutMs?: number } = {},
  ): UploadChannelStream {
    const credit = eager ? this.eagerCredit(size) : undefined;
    let stream: UploadChannelStream | undefined;
    const request = this.request(
      op,
      args,
      {
        onPartial: firstOnly((goAhead) => {
          stream?.goAhead();
          onGoAhead(goAhead);
        }),
      },
      timeoutMs,
    );
    let release: (() => void) | undefined;
    if (credit !== undefined) {
      this.eagerHeld += credit;
      release = once(() => (this.eagerHeld -= credit));
      // the server stops holding a request's eager data before it sends the go-ahead or the answer
      request.done.then(release, release);
    }
    stream = new UploadChannelStream(this, request, this.serverHello?.window ?? 0, credit, release);
    return stream;
  }

  /**
   * The credit an upload of `size` bytes (undefined: not announced) may use before its go-ahead,
   * within the server's per-request and per-connection allowances; undefined when it must wait.
   */
  private eagerCredit(size: number | undefined): number | undefined {
    const hello = this.serverHello;
    if (!hello || hello.eagerBytes === 0) return undefined;
    // an empty file takes one byte of credit too: a source is read (and so seen to end) only with credit
    const want = Math.min(hello.eagerBytes, Math.max(1, size ?? hello.eagerBytes));
    const room = Math.min(want, hello.eagerTotal - this.eagerHeld);
    return room > 0 ? room : undefined;
  }

  /**
   * Start a download stream: the REQUEST now; `onGoAhead` with the server's first PARTIAL (the
   * file's facts), after which the returned stream's `receive` takes the data.
   */
  startDownload(args: RequestOf<'download'>, onGoAhead: (goAhead: JsonObject) => void): DownloadChannelStream {
    const request = this.request('download', args, { onPartial: firstOnly(onGoAhead) });
    return new DownloadChannelStream(this, request, this.options.window);
  }

  /** Ask the server to stop a request (it answers with a final ERROR EABORTED). */
  cancel(id: number): void {
    const entry = this.pending.get(id);
    if (entry) entry.cancelled = true;
    this.connection?.sendFrame(FrameType.CANCEL, id);
  }

  /** Round trip of one PING, ms; `signal` stops waiting for the answer (EABORTED). */
  /**
   * A clock of the stall rule (the same on both ends: transport/stall.ts) at this client's
   * `stallBytes` per `stallTimeout`, from `total` bytes moved, and how often to check it.
   */
  stallClock(total: number): { readonly clock: StallClock; readonly checkEvery: number } {
    const { stallBytes, stallTimeout } = this.options;
    return { clock: new StallClock(stallBytes, stallTimeout, total), checkEvery: stallCheckInterval(stallTimeout) };
  }

  /** End the connection with `error`, failing every request and transfer on it (a server gone without a FIN). */
  failConnection(error: FileShareError): void {
    this.connection?.fail(error);
  }

  ping(timeoutMs: number, signal?: AbortSignal): { seq: number; done: Promise<number> } {
    throwIfAborted(signal);
    const connection = this.requireOpen();
    const seq = this.nextPingSeq++;
    const body = Buffer.allocUnsafe(8);
    body.writeDoubleBE(Date.now());
    const done = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(seq);
        stopListening();
        reject(new FileShareError('ETIMEDOUT', `ping ${seq} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const stopListening = onAbort(signal, () => {
        clearTimeout(timer);
        this.pings.delete(seq);
        reject(abortError(signal!));
      });
      this.pings.set(seq, {
        sentAt: performance.now(),
        resolve: (ms) => (clearTimeout(timer), stopListening(), resolve(ms)),
        reject: (e) => (clearTimeout(timer), stopListening(), reject(e)),
      });
    });
    connection.sendAlone(FrameType.PING, seq, body);
    return { seq, done };
  }

  /** Close: gracefully (`end`) or at once. Pending requests are rejected with ECLOSED. */
  close(graceful: boolean): Promise<void> {
    const connection = this.connection;
    if (!connection) {
      this.closedByUs = true;
      this.cancelOpen?.();
      return Promise.resolve();
    }
    if (connection.isClosed) return Promise.resolve();
    const closed = connection.whenClosed();
    this.closedByUs = true;
    if (graceful) connection.end();
    else connection.destroy(new FileShareError('ECLOSED', 'the client closed the connection'));
    return closed;
  }

  /** A promise that resolves when the socket has closed. */
  whenClosed(): Promise<void> {
    const connection = this.connection;
    if (!connection) return Promise.resolve();
    return connection.whenClosed();
  }

  /** The connection, for new work: after GOAWAY no new request or ping may start (ECLOSED). */
  requireOpen(): FrameConnection {
    const connection = this.requireConnected();
    if (this.goingAway) throw new FileShareError('ECLOSED', 'the server is shutting down');
    return connection;
  }

  /**
   * The connection, for a request already in flight: it may finish after GOAWAY (docs/protocol.md
   * §6), so a transfer whose go-ahead arrives after GOAWAY must still start its data stream.
   */
  requireConnected(): FrameConnection {
    if (this.failure) throw this.failure;
    if (!this.connection || this.connection.isClosed) throw new FileShareError('ECLOSED', 'not connected');
    return this.connection;
  }

  private onFrame(frame: Frame): void {
    if (!this.serverHello) {
      if (frame.type === FrameType.HELLO) {
        this.serverHello = parseHelloFrame(frame.body);
        this.connection!.peerMaxFrameSize = this.serverHello.maxFrameSize;
        this.helloWaiter?.resolve();
        return;
      }
      if (frame.type === FrameType.ERROR && frame.stream === 0) return this.onConnectionError(frame);
      throw new FileShareError('EPROTO', `expected HELLO from the server, got ${frameTypeName(frame.type)}`);
    }
    switch (frame.type) {
      case FrameType.PONG:
        return this.onPong(frame);
      case FrameType.GOAWAY:
        this.goingAway = true;
        this.onGoAway(parseGoAway(frame).reason);
        return;
      case FrameType.ERROR:
        if (frame.stream === 0) return this.onConnectionError(frame);
        return this.withRequest(frame, (r) => r.reject(parseErrorBody(parseJsonObject(frame.body, 'ERROR'))));
      case FrameType.RESPONSE:
        return this.withRequest(frame, (r) => r.resolve(parseJsonObject(frame.body, 'RESPONSE')));
      case FrameType.PARTIAL:
        return this.withRequest(frame, (r) => r.onPartial?.(parseJsonObject(frame.body, 'PARTIAL')));
      case FrameType.DATA:
        return this.withRequest(frame, (r) => {
          if (!r.incoming) {
            // a download cancelled before its go-ahead has no data stream: drop what was in flight
            if (r.cancelled) return;
            throw new FileShareError('EPROTO', `DATA for request ${frame.stream}, which is not a download`);
          }
          r.incoming.push(frame.body);
        });
      case FrameType.CREDIT: {
        const bytes = parseCredit(frame);
        return this.withRequest(frame, (r) => r.outgoing?.grant(bytes));
      }
      default:
        throw new FileShareError('EPROTO', `unexpected ${frameTypeName(frame.type)} frame from the server`);
    }
  }

  private withRequest(frame: Frame, fn: (request: PendingRequest) => void): void {
    const request = this.pending.get(frame.stream);
    if (request) return fn(request);
    // frames of a request we already gave up on (cancelled, timed out) are expected; others are not
    if (frame.stream === 0 || frame.stream >= this.nextId) {
      throw new FileShareError('EPROTO', `${frameTypeName(frame.type)} for unknown request ${frame.stream}`);
    }
  }

  private onPong(frame: Frame): void {
    const ping = this.pings.get(frame.stream);
    if (!ping) return; // answered after its timeout
    this.pings.delete(frame.stream);
    ping.resolve(performance.now() - ping.sentAt);
  }

  /** The server is about to close the connection at our request (logout): the close event then carries no error. */
  expectClose(): void {
    this.closeExpected = true;
  }

  private onConnectionError(frame: Frame): void {
    const body = parseErrorBody(parseJsonObject(frame.body, 'ERROR'));
    // An ERROR before the server's HELLO is a refusal (the server is full, or shutting down): say
    // so, so that it is never mistaken for a connection that was lost.
    const error = this.serverHello
      ? body
      : new FileShareError(body.code, `${this.options.host}:${this.options.port} refused the connection: ${body.message}`);
    this.failure ??= error;
    this.helloWaiter?.reject(error);
    this.connection?.destroy(error);
  }

  private onClose(error: FileShareError | undefined): void {
    // closed without a word before its HELLO: what a TLS server does with a plain-text client
    const beforeHello = this.helloWaiter !== undefined && !this.serverHello && !this.options.tls && !this.closedByUs;
    const hint =
      beforeHello && (error === undefined || error.code === 'ECLOSED')
        ? new FileShareError(
            'ECLOSED',
            `${this.options.host}:${this.options.port} closed the connection before its HELLO: if that server uses TLS, connect with tls (in the CLI, with --tls)`,
            { cause: error },
          )
        : undefined;
    const reason =
      this.failure ??
      hint ??
      error ??
      new FileShareError(
        'ECLOSED',
        this.goingAway ? 'the server closed the connection: it is shutting down' : 'connection lost: the server closed the connection',
      );
    // A failure this side detected keeps its code: EPROTO (the server broke the protocol, e.g. a
    // HELLO of another major version) and ETIMEDOUT (no HELLO within connectTimeout) are what
    // connect() documents. Anything else (an internal failure) is reported as a lost connection.
    const keep = this.failure !== undefined || reason.code === 'ECLOSED' || reason.code === 'EPROTO' || reason.code === 'ETIMEDOUT';
    this.failure = keep ? reason : new FileShareError('ECLOSED', `connection lost: ${reason.message}`, { cause: reason });
    this.helloWaiter?.reject(this.failure);
    for (const request of [...this.pending.values()]) request.reject(this.failure);
    for (const ping of [...this.pings.values()]) ping.reject(this.failure);
    this.pings.clear();
    // the `close` event carries why the connection ended by itself: not after close() or logout
    this.onClosed(this.closedByUs || this.closeExpected ? undefined : this.failure);
  }
}

/** Only the first PARTIAL of a transfer is its go-ahead. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

function firstOnly(onGoAhead: (goAhead: JsonObject) => void): (part: JsonObject) => void {
  let seen = false;
  return (part) => {
    if (seen) return;
    seen = true;
    onGoAhead(part);
  };
}

function connectError(err: NodeJS.ErrnoException, host: string, port: number): FileShareError {
  const where = `${host}:${port}`;
  if (err.code === 'ECONNREFUSED')
    return new FileShareError('ECLOSED', `connection refused by ${where} (is the server running?)`, { cause: err });
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new FileShareError('ECLOSED', `host not found: ${host}`, { cause: err });
  if (err.code === 'ETIMEDOUT') return new FileShareError('ETIMEDOUT', `connecting to ${where} timed out`, { cause: err });
  if (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || err.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    // OpenSSL's "wrong version number": the answer to our ClientHello was not TLS
    return new FileShareError(
      'ETLS',
      `${where} answered in plain text, not TLS: that server has no TLS, so connect without tls (in the CLI, without --tls)`,
      { cause: err },
    );
  }
  if (typeof err.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(err.code)) {
    return new FileShareError('ETLS', `TLS handshake with ${where} failed: ${err.message}`, { cause: err });
  }
  return new FileShareError('ECLOSED', `could not connect to ${where}: ${err.message}`, { cause: err });
}

/**
 * The error an answer names for one part of a request (a file of a batch): its code when this
 * side knows it (else `EIO`), its message bounded, as for a request's own ERROR.
 * @internal
 */
export function errorOfPart(body: Record<string, unknown>): FileShareError {
  return parseErrorBody(body);
}
