/**
 * The data streams of the client's channel: the life of one upload or download stream on the wire
 * (its REQUEST, the go-ahead, DATA within credit, END, CREDIT, CANCEL). Feature code (upload,
 * download, the folder calls) drives them through these handles and never sees a frame.
 * @internal
 * @module
 */
import type { Hash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { FileShareError } from '../errors.ts';
import { encodeCredit } from '../protocol/encoder.ts';
import type { JsonObject } from '../protocol/fields.ts';
import { FrameType } from '../protocol/frame.ts';
import type { FrameConnection } from '../transport/frame-connection.ts';
import { IncomingStream } from '../transport/incoming-stream.ts';
import { OutgoingStream } from '../transport/outgoing-stream.ts';
import { SmallReceiver } from './small-download.ts';

/** A request waiting for its final frame. @internal */
export interface PendingRequest {
  readonly id: number;
  readonly op: string;
  resolve(result: JsonObject): void;
  reject(error: FileShareError): void;
  onPartial?(part: JsonObject): void;
  /** Download data goes here. */
  incoming?: DataReceiver;
  /** Upload data comes from here. */
  outgoing?: OutgoingStream;
  /** We sent CANCEL: frames the server sent before it saw it (a go-ahead, DATA) are dropped. */
  cancelled?: boolean;
}

/** Where a download's DATA bodies go: a stream into a sink, or a small download's memory. @internal */
export interface DataReceiver {
  /** One DATA body. @throws FileShareError `EPROTO` when the server exceeded its credit */
  push(body: Buffer): void;
  readonly receivedBytes: number;
  readonly awaitingData: boolean;
  finish(): Promise<{ bytes: number; sha256: string }>;
  stop(): void;
}

/** A request as the channel sent it. @internal */
export interface SentRequest {
  readonly id: number;
  readonly done: Promise<JsonObject>;
  readonly entry: PendingRequest;
}

/** What a stream needs from its channel. @internal */
export interface StreamHost {
  /** The connection, for a request in flight (it may finish after GOAWAY). */
  requireConnected(): FrameConnection;
  /** The connection if there is one, open or not. */
  readonly connection: FrameConnection | undefined;
  /** Send CANCEL for request `id`. */
  cancel(id: number): void;
}

/** The part common to upload and download streams: the request, its answer, and giving up. @internal */
abstract class ChannelStream {
  constructor(
    protected readonly host: StreamHost,
    protected readonly request: SentRequest,
  ) {}

  /** The request id (the stream number on the wire). */
  get id(): number {
    return this.request.id;
  }

  /** The server's final answer: the RESPONSE body, or its ERROR (or the connection's) as a rejection. */
  get done(): Promise<JsonObject> {
    return this.request.done;
  }

  /** Settle {@link done} with `error` now, without waiting for the server's answer. */
  abandon(error: FileShareError): void {
    this.request.entry.reject(error);
  }

  /** Ask the server to stop (it answers `EABORTED`, unless it finished first) and stop this side's data. */
  abstract cancel(): void;
}

/** Callbacks of {@link UploadChannelStream.send}. @internal */
export interface UploadSendOptions {
  /** Where the source starts in the file (the go-ahead's offset): END counts from 0. */
  readonly offset: number;
  /** The SHA-256 state of the bytes before `offset` (a resumed upload). */
  readonly seed?: Hash;
  /** After each chunk handed to the socket. */
  readonly onChunk: (bytes: number) => void;
  /** The source failed; nothing more is sent (the owner decides whether to cancel). */
  readonly onError: (error: FileShareError) => void;
  /** Every byte was sent and END goes out with this SHA-256 of the whole file. */
  readonly onEnd: (sha256: string) => void;
}

/**
 * One upload (or discard) stream: after the server's go-ahead (or at once, for an eager one),
 * {@link send} streams a Readable within the server's credit and closes the stream with END;
 * {@link cancel} stops it. @internal
 */
export class UploadChannelStream extends ChannelStream {
  private outgoing: OutgoingStream | undefined;
  private goAheadSeen = false;

  constructor(
    host: StreamHost,
    request: SentRequest,
    /** The server's window: the initial credit of a stream. */
    private readonly initialCredit: number,
    /**
     * The part of that credit usable before the go-ahead (docs/protocol.md §4), when the server
     * allows eager data and this upload may use it; undefined: wait for the go-ahead.
     */
    private readonly eagerCredit?: number,
    /** Gives the eager credit back to the channel's allowance (the go-ahead came). */
    private readonly releaseEager?: () => void,
  ) {
    super(host, request);
  }

  /** Whether {@link send} may be called before the go-ahead. */
  get eager(): boolean {
    return this.eagerCredit !== undefined;
  }

  /** @internal the channel saw the go-ahead: the rest of the window is usable now. */
  goAhead(): void {
    if (this.goAheadSeen) return;
    this.goAheadSeen = true;
    this.releaseEager?.();
    if (this.eagerCredit !== undefined) this.outgoing?.grant(this.initialCredit - this.eagerCredit);
  }

  /** Stream `source` as this upload's data; END follows its last byte. @throws ECLOSED when the connection is gone */
  send(source: Readable, options: UploadSendOptions): void {
    const connection = this.host.requireConnected();
    const { offset } = options;
    const credit = this.eagerCredit === undefined || this.goAheadSeen ? this.initialCredit : this.eagerCredit;
    const outgoing = new OutgoingStream(
      this.id,
      source,
      credit,
      connection.schedule,
      {
        onEnd: (bytes, sha256) => {
          options.onEnd(sha256);
          connection.sendJson(FrameType.END, this.id, { bytes: offset + bytes, sha256 });
        },
        onError: options.onError,
        onChunk: options.onChunk,
      },
      options.seed,
    );
    this.outgoing = outgoing;
    this.request.entry.outgoing = outgoing;
    connection.addSender(outgoing);
  }

  /** Bytes of the source handed to the socket so far. */
  get sentBytes(): number {
    return this.outgoing?.sentBytes ?? 0;
  }

  /** Whether data is streaming and cannot go on until the server grants credit. */
  get awaitingCredit(): boolean {
    return this.outgoing?.awaitingCredit ?? false;
  }

  /** Whether {@link send} was called (the source is the stream's from then on: it destroys it on cancel). */
  get sending(): boolean {
    return this.outgoing !== undefined;
  }

  cancel(): void {
    this.host.cancel(this.id);
    this.stopData();
  }

  /** Stop sending (and destroy the source) without telling the server: the request is over already. */
  stopData(): void {
    const outgoing = this.outgoing;
    if (outgoing) {
      outgoing.cancel();
      this.host.connection?.removeSender(outgoing);
    }
  }
}

/** Callbacks of {@link DownloadChannelStream.receive}. @internal */
export interface DownloadReceiveOptions {
  /** The SHA-256 state of the bytes already held locally (a resumed download). */
  readonly seedHash?: Hash;
  /** After each chunk the sink accepted. */
  readonly onChunk: (bytes: number) => void;
  /** The sink failed; the stream has stopped writing (the owner decides whether to cancel). */
  readonly onFailure: (error: FileShareError) => void;
}

/**
 * One download stream: after the server's go-ahead, {@link receive} writes its DATA to a Writable
 * and grants credit as the sink takes the bytes (within the client's `window`). @internal
 */
export class DownloadChannelStream extends ChannelStream {
  private incoming: DataReceiver | undefined;

  constructor(
    host: StreamHost,
    request: SentRequest,
    /** The client's window: the credit granted to the server per stream. */
    private readonly window: number,
  ) {
    super(host, request);
  }

  /**
   * Write this download's data to the sink `open` creates (called only once the connection is known
   * to be there, so no local file is created for a stream that cannot run).
   * @throws ECLOSED when the connection is gone
   */
  receive(open: () => Writable, options: DownloadReceiveOptions): void {
    const connection = this.host.requireConnected();
    const id = this.id;
    this.incoming = new IncomingStream(open(), {
      seedHash: options.seedHash,
      window: this.window,
      sendCredit: (bytes) => connection.send(encodeCredit(id, bytes)),
      onFailure: options.onFailure,
      onChunk: options.onChunk,
    });
    this.request.entry.incoming = this.incoming;
  }

  /**
   * Keep this download's data in memory (a small file of `size` bytes: {@link SmallReceiver}),
   * hashed as it comes; its `chunks` are the data once {@link finish} resolved.
   * @throws ECLOSED when the connection is gone
   */
  receiveSmall(size: number, options: Omit<DownloadReceiveOptions, 'seedHash'>): SmallReceiver {
    this.host.requireConnected();
    const receiver = new SmallReceiver(size, this.window, options.onFailure, options.onChunk);
    this.incoming = receiver;
    this.request.entry.incoming = receiver;
    return receiver;
  }

  /** Whether {@link receive} (or {@link receiveSmall}) was called. */
  get receiving(): boolean {
    return this.incoming !== undefined;
  }

  /** Bytes received so far. */
  get receivedBytes(): number {
    return this.incoming?.receivedBytes ?? 0;
  }

  /** Whether data is due from the server (it holds credit): silence from it is a stall. */
  get awaitingData(): boolean {
    return this.incoming?.awaitingData ?? false;
  }

  /** End the sink once flushed; the totals of what was received (this call's bytes and the whole file's hash). */
  finish(): Promise<{ bytes: number; sha256: string }> {
    if (!this.incoming) throw new Error('finish() before receive()');
    return this.incoming.finish();
  }

  /** Stop writing to the sink (the download failed or was given up). */
  stop(): void {
    this.incoming?.stop();
  }

  cancel(): void {
    this.host.cancel(this.id);
    this.stop();
  }
}
