import type { Readable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { isRecyclingSource, type RecyclingSource } from './recycling-source.ts';
import { createTransferHash, hashOffloadSettings, type IncrementalHash, type TransferHash } from './transfer-hash.ts';

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
 * and hands them to the connection's scheduler. See docs/protocol.md §5. A large transfer hashes
 * on a worker thread (transfer-hash.ts); it then takes no chunk while the hash lags more than its
 * backlog bound behind, and reports its end once the worker has the digest.
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
  private readonly hash: TransferHash;
  private readonly maxBacklog: number;
  /** {@link finish} waits for an offloaded digest: a {@link cancel} now only silences it. */
  private digesting = false;
  /** {@link takeChunk} refused for the hash's backlog: wake the scheduler once it shrinks. */
  private hashBlocked = false;
  private prelude: Buffer | undefined;

  constructor(
    readonly id: number,
    private readonly source: Readable,
    initialCredit: number,
    private readonly wake: () => void,
    private readonly handlers: OutgoingStreamHandlers,
    seedHash?: IncrementalHash,
    prelude?: Buffer,
    /** Bytes the source will give, when known: a large transfer hashes on a worker thread. */
    expectedBytes?: number,
  ) {
    this.hash = createTransferHash({ seed: seedHash, size: expectedBytes, onProgress: this.onHashed });
    this.maxBacklog = hashOffloadSettings().maxBacklog;
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
    if (this.hash.backlog > this.maxBacklog) {
      this.hashBlocked = true; // onHashed wakes the scheduler
      this.hash.flush();
      return null;
    }
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
    const digest = this.hash.digest();
    if (typeof digest === 'string') return this.handlers.onEnd(this.bytes, digest);
    this.digesting = true;
    digest.then(
      (sha256) => {
        if (!this.digesting) return;
        this.digesting = false;
        this.handlers.onEnd(this.bytes, sha256);
      },
      (err: unknown) => {
        if (!this.digesting) return;
        this.digesting = false;
        this.handlers.onError(toFileShareError(err));
      },
    );
  }

  /** Stop without reporting (cancelled, or the connection closed). Destroys the source. */
  cancel(): void {
    this.digesting = false;
    if (this.done) return;
    this.done = true;
    this.detach();
    this.hash.dispose();
    this.source.destroy();
  }

  private readonly onHashed = (error?: FileShareError): void => {
    if (error) {
      if (this.done) return;
      this.onSourceError(error);
      this.source.destroy();
      return;
    }
    // the scheduler skipped this stream while the hash lagged: it may go on now
    if (!this.hashBlocked || this.done) return;
    if (this.hash.backlog <= this.maxBacklog / 2) {
      this.hashBlocked = false;
      this.wake();
    } else {
      this.hash.flush(); // not far enough yet: one more answer (the worker answers once per ask)
    }
  };

  private readonly onSourceEnd = (): void => {
    this.ended = true;
    this.wake();
  };

  private readonly onSourceError = (err: Error): void => {
    if (this.done) return;
    this.done = true;
    this.detach();
    this.hash.dispose();
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
