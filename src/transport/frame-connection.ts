import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FileShareError } from '../errors.ts';
import { errorBody } from '../protocol/control.ts';
import { FrameDecoder } from '../protocol/decoder.ts';
import { encodeFrame, encodeHeader, encodeJsonFrame } from '../protocol/encoder.ts';
import { DEFAULT_MAX_FRAME_SIZE, type Frame, FrameType, HEADER_SIZE, LENGTH_OVERHEAD } from '../protocol/frame.ts';
import type { OutgoingStream } from './outgoing-stream.ts';

/**
 * Most frame bytes one connection hands to its owner in one event-loop turn. A receiver hashes and
 * writes each DATA body in the turn it is handed over, so an unbounded turn (libuv reads up to 32 ×
 * 64 KiB from a readable socket in one go) is several milliseconds during which no timer fires and
 * no other connection is served. Past this bound decoded frames wait in the connection's backlog
 * for the next turn. 1 MiB: a smaller bound cost about 0.7 ms of receiver CPU per MiB in an A/B on
 * a loaded 2-core machine (one more loop iteration per piece), for about 3 ms of work per turn.
 * @internal
 */
export const MAX_FRAME_BYTES_PER_TURN = 1024 * 1024;

/**
 * Most bytes of decoded frames a connection holds in its backlog before it stops reading its
 * socket (resumed at half). The socket is read on while frames wait, so that a PING or PONG behind
 * file data is seen, and answered, at once instead of after the data ahead of it has been hashed
 * and written: the data itself is bounded by the streams' flow-control windows, and this bound
 * covers a peer that ignores them (found out, and cut off, once its frames are processed) or floods
 * control frames.
 * @internal
 */
export const MAX_BACKLOG_BYTES = 16 * 1024 * 1024;

/**
 * Most bytes this side lets wait unsent in the socket's queue before it stops reading: a PING is
 * answered the moment it is decoded, so a peer that sends pings and never reads its PONGs would
 * otherwise grow that queue without bound. A peer that reads never comes near it (file data is
 * queued one chunk at a time, and senders of many control frames wait for 'drain'); reading
 * resumes on 'drain'.
 * @internal
 */
export const MAX_UNSENT_BYTES = 4 * 1024 * 1024;

/** @internal */
export interface FrameConnectionOptions {
  /** Largest frame this side accepts. */
  readonly maxFrameSize: number;
  /** Largest DATA body this side sends. */
  readonly chunkSize: number;
  /** Called for every decoded frame. Throwing a FileShareError closes the connection with it. */
  readonly onFrame: (frame: Frame) => void;
  /** Called once when the connection is gone; `error` is the first failure, if any. */
  readonly onClose: (error: FileShareError | undefined) => void;
}

/**
 * Frames over a byte stream: a TCP or TLS socket, or any other Duplex (an in-memory pair in tests).
 * Nothing here depends on what the stream is.
 *
 * Incoming bytes go through the {@link FrameDecoder}, and the frames reach the owner in order, at
 * most {@link MAX_FRAME_BYTES_PER_TURN} per event-loop turn; the rest wait in a backlog while the
 * socket is still read (up to {@link MAX_BACKLOG_BYTES}), so that a PING or PONG, handed over the
 * moment it is decoded, never waits behind file data that arrived before it. Reading also stops
 * while more than {@link MAX_UNSENT_BYTES} of ours wait for a peer that does not read them.
 *
 * Outgoing control frames are written at once; file data is pulled from {@link OutgoingStream}s one
 * chunk at a time, round-robin, and only while the socket's userland queue is below one chunk, so a
 * control frame (PONG, CREDIT, RESPONSE) never waits behind more than about one chunk of queued
 * data. Everything written in one turn of the event loop is corked together and leaves in one
 * syscall at the end of that turn (`setImmediate`): a small download's PARTIAL, DATA and RESPONSE,
 * or a small upload's REQUEST, DATA and END. A write to a loopback socket costs tens of
 * microseconds of the writer's time (the kernel hands the bytes to the reader in that call), and
 * every write wakes the peer once more; profiles of 4 KiB transfers showed those per-frame writes
 * among the largest costs on both sides. A PING or PONG travels alone ({@link sendAlone}): it
 * leaves at once, so that a round trip on an idle connection does not wait for the end of a turn on
 * either side.
 *
 * First error wins and there is one close path: {@link fail} records the error, sends an ERROR
 * frame on stream 0 when it is a protocol error, and destroys the socket; `onClose` fires once.
 * @internal
 */
export class FrameConnection {
  /** Largest frame the peer accepts (from its HELLO). */
  peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private readonly decoder: FrameDecoder;
  private readonly senders: OutgoingStream[] = [];
  private nextSender = 0;
  private pumping = false;
  private waitingForDrain = false;
  /** The socket is corked until the end of this event-loop turn (see {@link batch}). */
  private batching = false;
  private closed = false;
  private failure: FileShareError | undefined;
  /**
   * A socket (TCP or TLS) has copied a chunk's bytes (into the kernel, or into TLS records) when
   * its write callback runs, so the sender may reuse the chunk's memory then. Any other Duplex (an
   * in-memory pair) may hand the very buffer to its reader: its chunks are never recycled.
   */
  private readonly copiesOnWrite: boolean;
  /** Frame bytes handed to the owner in this event-loop turn (see {@link MAX_FRAME_BYTES_PER_TURN}). */
  private turnBytes = 0;
  /** The end-of-turn step is scheduled (`setImmediate`). */
  private turnEndScheduled = false;
  /** Decoded frames waiting for a later turn, oldest first, from index {@link backlogHead}. */
  private backlog: Frame[] = [];
  private backlogHead = 0;
  /** Header and body bytes of the frames in the backlog. */
  private backlogBytes = 0;
  /** We paused the socket because the backlog is full. */
  private pausedForBacklog = false;
  /** We paused the socket because the peer does not read what we write (see {@link MAX_UNSENT_BYTES}). */
  private pausedForOutput = false;
  /** Time bytes last arrived, for idle timeouts. */
  lastActivity = Date.now();
  /** Since when an incomplete frame has been waiting for its remaining bytes (undefined: none). */
  partialFrameSince: number | undefined;
  /** Callers of {@link whenWritable} waiting for the socket's 'drain' (or 'close'). */
  private writableWaiters: Array<() => void> = [];

  constructor(
    readonly socket: Duplex,
    private readonly options: FrameConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameSize, { streamData: true });
    this.copiesOnWrite = socket instanceof Socket;
    // a socket: control frames are small and latency-bound; other Duplexes have no Nagle to turn off
    (socket as Duplex & { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onSocketError);
    socket.on('end', this.onEnd);
    socket.on('close', this.onSocketClose);
  }

  /** Bytes of decoded frames waiting for a later turn (see {@link MAX_BACKLOG_BYTES}). */
  get backlogByteCount(): number {
    return this.backlogBytes;
  }

  /** Whether the connection is closed or closing. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The first error that closed the connection, if any. */
  get error(): FileShareError | undefined {
    return this.failure;
  }

  /**
   * Write a control frame now, ahead of queued file data. Ignored once closed. Control frames are
   * never held back (a PONG or CREDIT must not wait), so a sender of many, such as a listing, awaits
   * {@link whenWritable} between them.
   */
  send(buffer: Buffer): void {
    if (this.closed) return;
    this.batch();
    this.socket.write(buffer);
  }

  /**
   * Cork the socket until the end of this event-loop turn, so that the frames written meanwhile
   * leave together. The delay is that of `setImmediate`: the check phase right after the I/O
   * callbacks of this turn, never a timer.
   */
  private batch(): void {
    if (this.batching) return;
    this.batching = true;
    this.socket.cork();
    setImmediate(this.flushBatch);
  }

  private readonly flushBatch = (): void => {
    if (!this.batching) return; // flushed early by destroyNow
    this.batching = false;
    this.socket.uncork();
  };

  /**
   * Resolves once the transport's queue is below its high-water mark again (at once when it is),
   * or when the connection closes: the backpressure of control frames.
   */
  whenWritable(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    // one list served by the connection's own 'drain' and 'close' listeners: a pair of listeners
    // per waiter on the socket made Node warn (MaxListenersExceededWarning) with a few dozen
    // requests in flight, and each drain walked them all
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  /** Resolve every {@link whenWritable} waiter. */
  private wakeWritableWaiters(): void {
    if (this.writableWaiters.length === 0) return;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves when the transport has closed (at once if it has). */
  whenClosed(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /**
   * Write a frame that travels alone (PING, PONG): joined to this turn's batch when there is one,
   * otherwise written at once, without waiting for the end of the turn.
   */
  sendAlone(type: FrameType, stream: number, body: Buffer): void {
    if (this.closed) return;
    this.socket.write(encodeFrame(type, stream, body));
  }

  /** Write a frame with a JSON body. */
  sendJson(type: FrameType, stream: number, value: object): void {
    this.send(encodeJsonFrame(type, stream, value));
  }

  /** Write a frame with a raw body. */
  sendFrame(type: FrameType, stream: number, body?: Buffer): void {
    this.send(encodeFrame(type, stream, body));
  }

  /** Start sending a stream's data. */
  addSender(sender: OutgoingStream): void {
    this.senders.push(sender);
    this.schedule();
  }

  /** Stop scheduling a sender (after cancel). */
  removeSender(sender: OutgoingStream): void {
    const index = this.senders.indexOf(sender);
    if (index >= 0) {
      this.senders.splice(index, 1);
      if (this.nextSender > index) this.nextSender--;
    }
  }

  /** Move queued data to the socket while it has room: fair, one chunk per sender per round. */
  readonly schedule = (): void => {
    if (this.pumping || this.closed || this.waitingForDrain) return;
    this.pumping = true;
    const socket = this.socket;
    const maxChunk = Math.min(this.options.chunkSize, this.peerMaxFrameSize - LENGTH_OVERHEAD);
    try {
      let idleRound = 0;
      while (this.senders.length > 0 && idleRound < this.senders.length) {
        if (socket.writableLength >= this.options.chunkSize) {
          // socket.write returned false at some point, so 'drain' will come
          this.waitingForDrain = socket.writableNeedDrain;
          if (this.waitingForDrain) break;
        }
        if (this.nextSender >= this.senders.length) this.nextSender = 0;
        const sender = this.senders[this.nextSender]!;
        if (sender.isStopped) {
          // cancelled by its owner without removeSender (e.g. the peer failed the request): drop it,
          // or dead senders pile up for the life of the connection
          this.senders.splice(this.nextSender, 1);
          continue;
        }
        const chunk = sender.takeChunk(maxChunk);
        if (chunk) {
          this.batch();
          const prelude = sender.takePrelude();
          if (prelude) socket.write(prelude);
          socket.write(encodeHeader(FrameType.DATA, sender.id, chunk.length));
          const written = this.copiesOnWrite ? sender.takeWriteCallback() : undefined;
          if (written) {
            socket.write(chunk, (err) => {
              if (!err) written();
            });
          } else {
            socket.write(chunk);
          }
          idleRound = 0;
          this.nextSender++;
          continue;
        }
        if (sender.isDrained) {
          this.senders.splice(this.nextSender, 1);
          this.batch();
          const prelude = sender.takePrelude();
          if (prelude) socket.write(prelude);
          sender.finish();
          idleRound = 0;
          continue;
        }
        idleRound++;
        this.nextSender++;
      }
    } finally {
      this.pumping = false;
    }
  };

  /**
   * Close with an error: protocol errors are reported to the peer on stream 0 first.
   * Safe to call many times; the first error wins.
   */
  fail(error: FileShareError): void {
    if (this.closed) return;
    this.failure = error;
    if (error.code === 'EPROTO' || error.code === 'ETIMEDOUT' || error.code === 'EBUSY') {
      try {
        this.socket.write(encodeJsonFrame(FrameType.ERROR, 0, errorBody(error)));
      } catch {
        /* the socket may already be unwritable */
      }
      this.closeGracefully();
    } else {
      this.destroyNow();
    }
  }

  /** End the connection after flushing what was written (logout, shutdown). */
  end(): void {
    if (this.closed) return;
    this.closeGracefully();
  }

  /** Destroy immediately. */
  destroy(error?: FileShareError): void {
    if (this.closed) return;
    if (error) this.failure = error;
    this.destroyNow();
  }

  private closeGracefully(): void {
    this.markClosed();
    this.socket.end();
    // a peer that never reads must not keep us waiting: destroy after a grace period
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  private destroyNow(): void {
    this.markClosed();
    // what was written in this turn (a CANCEL, an ERROR) is handed to the kernel first, as it was
    // before writes were batched: destroy() drops whatever is still corked
    if (this.batching) this.flushBatch();
    this.socket.destroy();
  }

  private markClosed(): void {
    this.closed = true;
    for (const sender of this.senders) sender.cancel();
    this.senders.length = 0;
    this.backlog = [];
    this.backlogHead = 0;
    this.backlogBytes = 0;
    this.socket.off('data', this.onData);
  }

  private readonly onData = (chunk: Buffer): void => {
    const now = Date.now();
    this.lastActivity = now;
    try {
      const frames = this.decoder.push(chunk);
      // a frame that has begun must complete in time: restart the clock whenever one completes
      if (this.decoder.pendingBytes === 0) this.partialFrameSince = undefined;
      else if (frames.length > 0 || this.partialFrameSince === undefined) this.partialFrameSince = now;
      for (const frame of frames) {
        if (this.closed) return;
        this.accept(frame);
      }
    } catch (err) {
      this.fail(asFileShareError(err));
    }
    this.limitUnsent();
  };

  /** Stop reading while more than {@link MAX_UNSENT_BYTES} of ours wait for the peer to read them. */
  private limitUnsent(): void {
    if (this.pausedForOutput || this.closed || this.socket.writableLength < MAX_UNSENT_BYTES) return;
    // that much queued means a write returned false, so 'drain' comes once the peer reads
    this.pausedForOutput = true;
    this.socket.pause();
  }

  /**
   * Hand a decoded frame to the owner now, or queue it behind the frames already waiting. A PING or
   * PONG always goes at once: it belongs to no stream, and answering it (or timing it) must not
   * wait for the file data that happened to arrive before it.
   */
  private accept(frame: Frame): void {
    if (frame.type === FrameType.PING || frame.type === FrameType.PONG) return this.options.onFrame(frame);
    if (this.backlogHead < this.backlog.length || this.turnBytes >= MAX_FRAME_BYTES_PER_TURN) {
      this.backlog.push(frame);
      this.backlogBytes += HEADER_SIZE + frame.body.length;
      this.scheduleTurnEnd();
      if (this.backlogBytes >= MAX_BACKLOG_BYTES && !this.pausedForBacklog) {
        this.pausedForBacklog = true;
        this.socket.pause();
      }
      return;
    }
    this.turnBytes += HEADER_SIZE + frame.body.length;
    this.scheduleTurnEnd();
    this.options.onFrame(frame);
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(this.endTurn);
  }

  /**
   * The check phase of a turn: what is left of the turn's budget goes to the backlog (all of it
   * once frames wait, as new ones then queue behind them instead of being handed over on arrival),
   * then the next turn starts with a full budget.
   */
  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    if (!this.closed) this.processBacklog(MAX_FRAME_BYTES_PER_TURN);
    this.turnBytes = 0;
    if (!this.closed && this.backlogHead < this.backlog.length) this.scheduleTurnEnd();
  };

  /** Hand waiting frames to the owner, in order, until `budget` bytes have gone or none is left. */
  private processBacklog(budget: number): void {
    try {
      while (this.backlogHead < this.backlog.length && this.turnBytes < budget && !this.closed) {
        const frame = this.backlog[this.backlogHead]!;
        this.backlog[this.backlogHead++] = undefined as unknown as Frame;
        const size = HEADER_SIZE + frame.body.length;
        this.backlogBytes -= size;
        this.turnBytes += size;
        this.options.onFrame(frame);
      }
    } catch (err) {
      this.fail(asFileShareError(err));
    }
    if (this.backlogHead >= this.backlog.length) {
      this.backlog = [];
      this.backlogHead = 0;
    } else if (this.backlogHead > 1024 && this.backlogHead * 2 > this.backlog.length) {
      this.backlog = this.backlog.slice(this.backlogHead);
      this.backlogHead = 0;
    }
    if (this.pausedForBacklog && this.backlogBytes < MAX_BACKLOG_BYTES / 2 && !this.closed) {
      this.pausedForBacklog = false;
      if (!this.pausedForOutput) this.socket.resume();
    }
    this.limitUnsent();
  }

  private readonly onDrain = (): void => {
    if (this.pausedForOutput && !this.closed) {
      this.pausedForOutput = false;
      if (!this.pausedForBacklog) this.socket.resume();
    }
    this.waitingForDrain = false;
    this.schedule();
    this.wakeWritableWaiters();
  };

  private readonly onSocketError = (err: Error): void => {
    if (!this.failure) this.failure = new FileShareError('ECLOSED', `connection lost: ${err.message}`, { cause: err });
  };

  private readonly onEnd = (): void => {
    if (this.closed) return;
    // the peer finished sending: what it sent before still counts (an END, a CANCEL), then our
    // side closes too
    this.processBacklog(Number.POSITIVE_INFINITY);
    if (!this.closed) this.closeGracefully();
  };

  private readonly onSocketClose = (): void => {
    this.markClosed();
    this.wakeWritableWaiters();
    this.options.onClose(this.failure);
  };
}

function asFileShareError(err: unknown): FileShareError {
  return err instanceof FileShareError ? err : new FileShareError('EIO', String(err), { cause: err });
}
