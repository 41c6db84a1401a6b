import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { isRecyclingSource, type RecyclingSource } from './recycling-source.ts';

/** What the owner of an {@link OutgoingStream} hears back. @internal */
export interface OutgoingStreamHandlers {
  /** Called once when every byte of the source has been handed to the socket. */
  onEnd(bytes: number, sha256: string): void;
  /** Called once if the source fails. */
  onError(err: FileShareError): void;
  /** Called after each chunk is handed to the socket. */
  onChunk?(bytes: number): void;
}

/**
 * The sending half of a transfer stream: pulls chunks from a Readable (in paused mode, so the
 * source is read only as fast as the peer grants credit and the socket drains), hashes them once,
 * and hands them to the connection's scheduler. See docs/protocol.md §5.
 * @internal
 */
export class OutgoingStream {
  private credit: number;
  private pending: Buffer | null = null;
  /** The whole chunk `pending` is part of, when the source takes its chunks back. */
  private pendingWhole: Buffer | null = null;
  /** Set by {@link takeChunk} when the chunk it returned was the last piece of a recyclable one. */
  private finishedWhole: Buffer | null = null;
  private readonly recycler: RecyclingSource | undefined;
  private ended = false;
  private done = false;
  private bytes = 0;
  private readonly hash: Hash;
  private prelude: Buffer | undefined;

  constructor(
    readonly id: number,
    private readonly source: Readable,
    initialCredit: number,
    private readonly wake: () => void,
    private readonly handlers: OutgoingStreamHandlers,
    seedHash?: Hash,
    prelude?: Buffer,
  ) {
    this.hash = seedHash ?? createHash('sha256');
    this.prelude = prelude;
    this.credit = initialCredit;
    this.recycler = isRecyclingSource(source) ? source : undefined;
    source.on('readable', wake);
    source.on('end', this.onSourceEnd);
    source.on('error', this.onSourceError);
  }

  /** Bytes handed to the socket so far. */
  get sentBytes(): number {
    return this.bytes;
  }

  /** The peer granted `n` more bytes. */
  grant(n: number): void {
    this.credit += n;
    this.wake();
  }

  /** True once finished, cancelled or failed: it will send nothing more. */
  get isStopped(): boolean {
    return this.done;
  }

  /** True when everything was sent; the scheduler then calls {@link finish}. */
  get isDrained(): boolean {
    return this.ended && this.pending === null && !this.done;
  }

  /** True while the stream cannot go on until the peer grants credit (idle timeouts apply then). */
  get awaitingCredit(): boolean {
    return !this.done && this.credit <= 0;
  }

  /** The next chunk of at most `max` bytes, or null when none is available or allowed now. */
  takeChunk(max: number): Buffer | null {
    if (this.done || this.credit <= 0) return null;
    if (this.pending === null) {
      const next = this.source.read() as Buffer | string | null;
      if (next === null) return null;
      this.pending = typeof next === 'string' ? Buffer.from(next) : next;
      if (this.pending.length === 0) {
        this.pending = null;
        return null;
      }
      this.pendingWhole = this.recycler !== undefined ? this.pending : null;
    }
    const limit = Math.min(max, this.credit);
    let chunk: Buffer;
    if (this.pending.length <= limit) {
      chunk = this.pending;
      this.pending = null;
      this.finishedWhole = this.pendingWhole;
      this.pendingWhole = null;
    } else {
      chunk = this.pending.subarray(0, limit);
      this.pending = this.pending.subarray(limit);
    }
    this.credit -= chunk.length;
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.handlers.onChunk?.(chunk.length);
    return chunk;
  }

  /**
   * After {@link takeChunk}: a callback for the socket write of the chunk it returned, when that
   * chunk was the last piece of one the source takes back. Socket writes complete in order, so once
   * it runs, every piece of that chunk has left and its memory can be read into again.
   */
  takeWriteCallback(): (() => void) | undefined {
    const whole = this.finishedWhole;
    if (whole === null) return undefined;
    this.finishedWhole = null;
    const recycler = this.recycler!;
    return () => recycler.recycle(whole);
  }

  /**
   * A frame to write just before this stream's first DATA (or its end, when it has no data), once:
   * a download's PARTIAL, which then leaves in the same write as the first chunk instead of a
   * write of its own a thread-pool round trip earlier.
   */
  takePrelude(): Buffer | undefined {
    const prelude = this.prelude;
    this.prelude = undefined;
    return prelude;
  }

  /** Called by the scheduler once {@link isDrained}: reports the totals. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    this.handlers.onEnd(this.bytes, this.hash.digest('hex'));
  }

  /** Stop without reporting (cancelled, or the connection closed). Destroys the source. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    this.source.destroy();
  }

  private readonly onSourceEnd = (): void => {
    this.ended = true;
    this.wake();
  };

  private readonly onSourceError = (err: Error): void => {
    if (this.done) return;
    this.done = true;
    this.detach();
    this.handlers.onError(toFileShareError(err));
  };

  private detach(): void {
    this.source.off('readable', this.wake);
    this.source.off('end', this.onSourceEnd);
    this.source.off('error', this.onSourceError);
    // keep a no-op error listener: a late error from a destroyed source must not crash the process
    this.source.on('error', noop);
  }
}

function noop(): void {}
