import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';

/** A SHA-256 that can be continued (Node's `Hash`, or a storage backend's own). @internal */
export interface IncrementalHash {
  update(data: Buffer): unknown;
  digest(encoding: 'hex'): string;
}

/** Options of an {@link IncomingStream}. @internal */
export interface IncomingStreamOptions {
  /** The window this side announced in its HELLO: the sender's initial credit. */
  readonly window: number;
  /** Send a CREDIT frame granting `bytes` more. */
  readonly sendCredit: (bytes: number) => void;
  /** Most bytes accepted before failing with ETOOLARGE / EQUOTA (checked per chunk). */
  readonly maxBytes?: number;
  /** Code used when `maxBytes` is exceeded. */
  readonly maxBytesCode?: 'ETOOLARGE' | 'EQUOTA';
  /**
   * Asked before each body is written, with the running total (that body included): false fails
   * the stream with `EQUOTA`. For limits that change while the stream runs (a quota shared by
   * concurrent uploads). A promise means "wait": this body and the ones after it are held (at most
   * the window, as the sender gets no more credit meanwhile) until it resolves true (written, in
   * order) or false (`EQUOTA`).
   */
  readonly accept?: (received: number) => boolean | Promise<boolean>;
  /** Called when the sink fails (disk full, caller's stream error) or a limit is hit. */
  readonly onFailure: (err: FileShareError) => void;
  /** Called after each chunk reached the sink. */
  readonly onChunk?: (bytes: number) => void;
  /** Continue an existing hash (resumed transfers hash the prefix first). */
  readonly seedHash?: IncrementalHash;
}

/**
 * The receiving half of a transfer stream: writes DATA bodies to a Writable, hashes them, and
 * grants the sender more credit only when the sink has taken the bytes (its write callback), so
 * the data buffered for this stream never exceeds the window however slow the sink is.
 * @internal
 */
export class IncomingStream {
  private granted: number;
  private received = 0;
  private written = 0;
  private ungranted = 0;
  private failed = false;
  private finishing = false;
  /** Bodies received but not yet admitted by `accept`, with the running total of each. */
  private readonly held: Array<{ body: Buffer; total: number }> = [];
  /** An `accept` promise is pending: bodies wait in `held`. */
  private judging = false;
  /** Called once `held` is empty again (or the stream failed), for `finish()`. */
  private onIdle: (() => void) | undefined;
  private readonly hash: IncrementalHash;

  constructor(
    private readonly sink: Writable,
    private readonly options: IncomingStreamOptions,
  ) {
    this.granted = options.window;
    this.hash = options.seedHash ?? createHash('sha256');
    sink.on('error', this.onSinkError);
  }

  /** Bytes received so far. */
  get receivedBytes(): number {
    return this.received;
  }

  /**
   * True while the sender has credit left and the stream is neither finishing nor failed: it is the
   * sender's turn, so silence from it is idleness (a sender without credit waits for us instead).
   */
  get awaitingData(): boolean {
    return !this.failed && !this.finishing && !this.judging && this.received < this.granted;
  }

  /** Waiting for `accept` to admit held data (room in a shared quota): our side's turn, not the sender's. */
  get waitingForRoom(): boolean {
    return this.judging && !this.failed;
  }

  /**
   * One DATA body. @throws FileShareError `EPROTO` when the sender exceeded its credit: the caller
   * treats that as a connection error, since the peer ignores flow control.
   */
  push(body: Buffer): void {
    if (this.received + body.length > this.granted) {
      throw new FileShareError('EPROTO', `flow-control violation: ${this.received + body.length} bytes sent, ${this.granted} granted`);
    }
    this.received += body.length;
    if (this.failed) return;
    const { maxBytes } = this.options;
    if (maxBytes !== undefined && this.received > maxBytes) {
      const code = this.options.maxBytesCode ?? 'ETOOLARGE';
      this.fail(
        new FileShareError(
          code,
          code === 'EQUOTA' ? 'the upload exceeds the storage quota' : `the file exceeds the maximum size of ${maxBytes} bytes`,
        ),
      );
      return;
    }
    if (this.judging) {
      this.held.push({ body, total: this.received });
      return;
    }
    this.admit(body, this.received);
  }

  /** Write `body` if `accept` lets it; hold it (and what follows) while `accept` is deciding. */
  private admit(body: Buffer, total: number): boolean {
    const verdict = this.options.accept ? this.options.accept(total) : true;
    if (verdict === true) {
      this.write(body);
      return true;
    }
    if (verdict === false) {
      this.fail(new FileShareError('EQUOTA', 'the upload exceeds the storage quota'));
      return false;
    }
    this.judging = true;
    this.held.unshift({ body, total });
    verdict.then(
      (granted) => {
        this.judging = false;
        if (this.failed) return;
        if (!granted) return this.fail(new FileShareError('EQUOTA', 'the upload exceeds the storage quota'));
        this.drainHeld();
      },
      (err: unknown) => {
        this.judging = false;
        this.fail(toFileShareError(err));
      },
    );
    return false;
  }

  /** Admit held bodies in order until one has to wait again. */
  private drainHeld(): void {
    while (this.held.length > 0 && !this.failed && !this.judging) {
      const next = this.held.shift()!;
      if (!this.admit(next.body, next.total)) return;
    }
    if (this.held.length === 0 && !this.judging) this.idle();
  }

  private idle(): void {
    const done = this.onIdle;
    this.onIdle = undefined;
    done?.();
  }

  private write(body: Buffer): void {
    this.hash.update(body);
    const length = body.length;
    this.sink.write(body, (err) => {
      if (err || this.failed) return;
      this.written += length;
      this.options.onChunk?.(length);
      this.ungranted += length;
      // grant in batches: a CREDIT per quarter window keeps frames few and the pipe full
      if (this.ungranted >= this.options.window / 4) {
        const grant = this.ungranted;
        this.ungranted = 0;
        this.granted += grant;
        this.options.sendCredit(grant);
      }
    });
  }

  /** Bytes the sink has accepted. */
  get writtenBytes(): number {
    return this.written;
  }

  /** End the sink and wait until it has flushed; resolves to the totals. */
  async finish(): Promise<{ bytes: number; sha256: string }> {
    if (this.failed) throw new FileShareError('EIO', 'stream already failed');
    this.finishing = true;
    if (this.judging || this.held.length > 0) {
      // the sender is done, but some of its data still waits for room: end only after it
      await new Promise<void>((resolve) => (this.onIdle = resolve));
      if (this.failed) throw new FileShareError('EQUOTA', 'the upload exceeds the storage quota');
    }
    const sink = this.sink;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(toFileShareError(err));
      // A write may already have failed (a full disk) without its 'error' event having fired yet:
      // end()'s callback then carries the error. Ignoring it would report a truncated file as done.
      if (sink.errored) return onError(sink.errored);
      sink.once('error', onError);
      sink.end((err?: Error | null) => {
        sink.off('error', onError);
        const failure = err ?? sink.errored;
        if (failure) onError(failure);
        else resolve();
      });
    });
    return { bytes: this.received, sha256: this.hash.digest('hex') };
  }

  /** Stop writing (the transfer was cancelled or failed elsewhere). */
  stop(): void {
    this.failed = true;
    this.held.length = 0;
    this.idle();
    this.sink.off('error', this.onSinkError);
    this.sink.on('error', noop);
  }

  private readonly onSinkError = (err: Error): void => {
    this.fail(toFileShareError(err));
  };

  private fail(err: FileShareError): void {
    if (this.failed) return;
    this.stop();
    this.options.onFailure(err);
  }
}

function noop(): void {}
