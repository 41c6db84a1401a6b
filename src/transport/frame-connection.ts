import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FileShareError } from '../errors.ts';
import { errorBody } from '../protocol/control.ts';
import { FrameDecoder } from '../protocol/decoder.ts';
import { encodeFrame, encodeHeader, encodeJsonFrame } from '../protocol/encoder.ts';
import { DEFAULT_MAX_FRAME_SIZE, type Frame, FrameType, LENGTH_OVERHEAD } from '../protocol/frame.ts';
import type { OutgoingStream } from './outgoing-stream.ts';

/**
 * Most bytes one connection reads from its socket in one event-loop turn. libuv reads up to 32 ×
 * 64 KiB from a readable socket in one go, and a receiver hashes and writes each piece in that same
 * turn: 2 MiB of work (several milliseconds) during which no timer fires and no other connection
 * is served, not even a PING. Past this bound the socket is paused until the turn's check phase,
 * so a turn carries at most about this much (one more read may already be under way). Each pause
 * costs a loop iteration and a read stop/start: at 256 KiB per turn that added about 0.7 ms of
 * receiver CPU per MiB in an A/B on a loaded 2-core machine, so the bound is 1 MiB (about 3 ms
 * of work at this machine's receive cost, half the unbounded turn).
 * @internal
 */
export const MAX_READ_PER_TURN = 1024 * 1024;

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
 * Incoming bytes go through the {@link FrameDecoder}. Outgoing control frames are written at once;
 * file data is pulled from {@link OutgoingStream}s one chunk at a time, round-robin, and only while
 * the socket's userland queue is below one chunk, so a control frame (PONG, CREDIT, RESPONSE) never
 * waits behind more than about one chunk of queued data. Everything written in one turn of the
 * event loop is corked together and leaves in one syscall at the end of that turn (`setImmediate`):
 * a small download's PARTIAL, DATA and RESPONSE, or a small upload's REQUEST, DATA and END. A write
 * to a loopback socket costs tens of microseconds of the writer's time (the kernel hands the bytes
 * to the reader in that call), and every write wakes the peer once more; profiles of 4 KiB
 * transfers showed those per-frame writes among the largest costs on both sides. A PING or PONG
 * travels alone ({@link sendAlone}): it leaves at once, so that a round trip on an idle connection
 * does not wait for the end of a turn on either side.
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
  /** Bytes read from the socket in this event-loop turn (see {@link MAX_READ_PER_TURN}). */
  private turnBytes = 0;
  /** The end-of-turn reset is scheduled (`setImmediate`). */
  private turnEndScheduled = false;
  /** We paused the socket for the rest of this turn. */
  private pausedForTurn = false;
  /** Time bytes last arrived, for idle timeouts. */
  lastActivity = Date.now();
  /** Since when an incomplete frame has been waiting for its remaining bytes (undefined: none). */
  partialFrameSince: number | undefined;

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
    const socket = this.socket;
    if (this.closed || !socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
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
    this.socket.off('data', this.onData);
  }

  private readonly onData = (chunk: Buffer): void => {
    const now = Date.now();
    this.lastActivity = now;
    this.turnBytes += chunk.length;
    if (!this.turnEndScheduled) {
      this.turnEndScheduled = true;
      setImmediate(this.endTurn);
    }
    if (this.turnBytes >= MAX_READ_PER_TURN && !this.pausedForTurn) {
      // enough for one turn: what is still in the socket waits for the next one, so that timers
      // and the other connections of this process get the loop in between
      this.pausedForTurn = true;
      this.socket.pause();
    }
    try {
      const frames = this.decoder.push(chunk);
      // a frame that has begun must complete in time: restart the clock whenever one completes
      if (this.decoder.pendingBytes === 0) this.partialFrameSince = undefined;
      else if (frames.length > 0 || this.partialFrameSince === undefined) this.partialFrameSince = now;
      for (const frame of frames) {
        if (this.closed) return;
        this.options.onFrame(frame);
      }
    } catch (err) {
      this.fail(err instanceof FileShareError ? err : new FileShareError('EIO', String(err), { cause: err }));
    }
  };

  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    this.turnBytes = 0;
    if (this.pausedForTurn) {
      this.pausedForTurn = false;
      if (!this.closed) this.socket.resume();
    }
  };

  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    this.schedule();
  };

  private readonly onSocketError = (err: Error): void => {
    if (!this.failure) this.failure = new FileShareError('ECLOSED', `connection lost: ${err.message}`, { cause: err });
  };

  private readonly onEnd = (): void => {
    // the peer finished sending: we will get no more requests; close our side too
    if (!this.closed) this.closeGracefully();
  };

  private readonly onSocketClose = (): void => {
    this.markClosed();
    this.options.onClose(this.failure);
  };
}
