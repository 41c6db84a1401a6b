import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, createReadStream, fstatSync, open as openCallback, openSync, read as readCallback, readSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { ProgressMeter } from '../metrics/progress-meter.ts';
import type { UploadChannelStream } from './channel-streams.ts';
import { mtimeMsOf } from './mtime.ts';
import { abortError, onAbort, reportProgress, throwIfAborted } from './abort.ts';
import { type TransferTurn, watchStall } from './stall-watch.ts';
import type { TransferContext } from './transfer-context.ts';
import type { TransferResult, UploadOptions } from './transfer-types.ts';
import { FileChunkStream } from '../storage/file-chunks.ts';
import { charged, syncBudgetLeft } from '../sync-budget.ts';

/** Never block opening a FIFO planted under a file name. */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

const openFd = promisify(openCallback);
const readFd = promisify(readCallback);

/**
 * Where the bytes come from: a local file (opened at the agreed offset; a small one was read
 * whole into `data` when it was looked at) or the caller's stream. @internal
 */
export type Source =
  | { kind: 'file'; file: string; size: number; mtimeMs: number; data?: Buffer }
  | { kind: 'stream'; stream: Readable; size: number | undefined };

/**
 * Upload `source` (a local path or a Readable) to `remotePath`: REQUEST, wait for the go-ahead,
 * stream DATA within the server's credit while hashing, END with our SHA-256, and check that the
 * server's SHA-256 matches. See docs/protocol.md §4. A new upload to a server that allows it sends
 * its first bytes (a small file: all of it and END) right behind the REQUEST, without waiting.
 *
 * With `resume`, the server may already hold the first bytes from an interrupted attempt: it
 * sends their SHA-256 with the go-ahead, and we continue after them only if our file's first bytes
 * hash the same; otherwise we restart from byte 0.
 * @internal
 */
export async function upload(
  ctx: TransferContext,
  source: string | Readable,
  remotePath: string,
  options: UploadOptions = {},
  op: 'upload' | 'discard' = 'upload',
): Promise<TransferResult> {
  throwIfAborted(options.signal);
  if (options.mtime !== undefined) mtimeMsOf(options.mtime); // a bad one throws before anything is sent
  const opened = await openSource(source, options.size, ctx.options.chunkSize);
  if (options.signal?.aborted) {
    // aborted while the local file was looked at: no request at all
    if (opened.kind === 'stream') opened.stream.destroy();
    throw abortError(options.signal);
  }
  if (options.resume && opened.kind !== 'file') throw new TypeError('options.resume needs a local file path as the source');
  try {
    return await attempt(ctx, opened, remotePath, options, op, false);
  } catch (err) {
    if (err instanceof RestartNeeded) {
      throwIfAborted(options.signal); // an abort during the first attempt stops the second too
      return attempt(ctx, opened, remotePath, options, op, true);
    }
    throw err;
  }
}

/** The server's kept bytes are not a prefix of our file: start over from byte 0. */
class RestartNeeded extends Error {}

/**
 * The states of one upload attempt, and what moves it on. Every state change goes through
 * {@link UploadAttempt.enter}, which refuses any move not in this table.
 *
 * | state | waiting for | event: next state |
 * |---|---|---|
 * | `requesting` | the server's go-ahead | go-ahead at 0: `sending`; go-ahead at N > 0: `checking`; abort, stall: `stopping`; answer: `settled` |
 * | `checking` | our hash of the file's first N bytes | same as the server's: `sending`; different: `stopping` (restart); abort, stall: `stopping`; answer: `settled` |
 * | `sending` | the source's last byte (and credit) | last byte sent (END): `ending`; source error, abort, stall: `stopping`; answer: `settled` |
 * | `ending` | the server's verdict on our END | abort (too late to stop a commit: a grace period): `stopping`; answer: `settled` |
 * | `stopping` | the server's answer to our CANCEL | answer, or the abort's grace over: `settled` |
 * | `settled` | nothing: the promise has its result | - |
 */
type UploadState = 'requesting' | 'checking' | 'sending' | 'ending' | 'stopping' | 'settled';

const UPLOAD_TRANSITIONS: Readonly<Record<UploadState, readonly UploadState[]>> = {
  requesting: ['checking', 'sending', 'stopping', 'settled'],
  checking: ['sending', 'stopping', 'settled'],
  sending: ['ending', 'stopping', 'settled'],
  ending: ['stopping', 'settled'],
  stopping: ['settled'],
  settled: [],
};

function attempt(
  ctx: TransferContext,
  source: Source,
  remotePath: string,
  options: UploadOptions,
  op: 'upload' | 'discard',
  restart: boolean,
): Promise<TransferResult> {
  return new Promise<TransferResult>(
    (resolve, reject) => new UploadAttempt(ctx, source, remotePath, options, op, restart, resolve, reject),
  );
}

/** One attempt of an upload as a state machine (see {@link UploadState}); it settles its promise exactly once. */
class UploadAttempt {
  private state: UploadState = 'requesting';
  private stream!: UploadChannelStream;
  /** Where our data starts in the file: the go-ahead's offset (0 unless resumed). */
  private offset = 0;
  /** SHA-256 of the whole file, known once END is sent. */
  private clientSha: string | undefined;
  /** Why this side gave up (abort, stall, source error, restart); reported instead of the server's EABORTED. */
  private failure: Error | undefined;
  private meter: ProgressMeter | undefined;
  private abortGrace: NodeJS.Timeout | undefined;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    private readonly ctx: TransferContext,
    private readonly source: Source,
    private readonly remotePath: string,
    private readonly options: UploadOptions,
    op: 'upload' | 'discard',
    restart: boolean,
    private readonly resolve: (result: TransferResult) => void,
    private readonly reject: (error: Error) => void,
  ) {
    try {
      this.stream = this.sendRequest(op, restart);
    } catch (err) {
      if (source.kind === 'stream') source.stream.destroy();
      this.state = 'settled';
      reject(toFileShareError(err));
      return;
    }
    const { signal } = options;
    this.cleanups.push(
      onAbort(signal, () => this.onAbort(abortError(signal!))),
      watchStall(ctx, `the upload of ${remotePath}`, {
        moved: () => this.stream.sentBytes,
        turn: () => this.turn(),
        fail: (error) => {
          this.stop(error);
          this.stream.abandon(error);
        },
      }),
    );
    this.stream.done.then(
      (response) => this.onAnswer(response),
      (err: FileShareError) => this.fail(err),
    );
    if (this.stream.eager) {
      try {
        this.startSending(undefined);
      } catch (err) {
        this.stop(toFileShareError(err));
      }
    }
  }

  private enter(next: UploadState): void {
    if (!UPLOAD_TRANSITIONS[this.state].includes(next)) throw new Error(`upload state machine: no way from ${this.state} to ${next}`);
    this.state = next;
  }

  /** A method rather than a comparison: the state changes behind TypeScript's narrowing (awaits, callbacks). */
  private isIn(state: UploadState): boolean {
    return this.state === state;
  }

  private sendRequest(op: 'upload' | 'discard', restart: boolean): UploadChannelStream {
    const { source, options, remotePath } = this;
    const onGoAhead = (goAhead: Record<string, unknown>) => {
      this.onGoAhead(goAhead).catch((err: Error) => this.stop(err));
    };
    // a resumed upload waits for the go-ahead, which says where to continue
    const eager = !options.resume;
    if (op === 'discard') return this.ctx.channel.startUpload('discard', { size: source.size }, onGoAhead, eager);
    const mtime =
      options.mtime !== undefined
        ? mtimeMsOf(options.mtime)
        : options.preserveMtime && source.kind === 'file'
          ? Math.floor(source.mtimeMs)
          : undefined;
    return this.ctx.channel.startUpload(
      'upload',
      {
        path: remotePath,
        size: source.size,
        overwrite: options.overwrite === true,
        ...(mtime !== undefined ? { mtime } : {}),
        ...(options.resume && source.kind === 'file' ? { resume: { key: resumeKey(source, remotePath), restart } } : {}),
      },
      onGoAhead,
      eager,
    );
  }

  /** The server's go-ahead: check a resume offset (`checking`), then stream the data (`sending`). */
  private async onGoAhead(goAhead: Record<string, unknown>): Promise<void> {
    const offset = typeof goAhead.offset === 'number' ? goAhead.offset : 0;
    if (this.stream.eager && !this.isIn('requesting')) {
      // the data is on its way already; the go-ahead only opened the rest of the window
      if (offset !== 0 && !this.isIn('settled'))
        throw new FileShareError('EPROTO', `the server offered to resume a new upload at ${offset} bytes`);
      return;
    }
    if (!this.isIn('requesting')) return; // given up before the go-ahead came
    const { source, options } = this;
    this.offset = offset;
    let seed: Hash | undefined;
    if (this.offset > 0) {
      this.enter('checking');
      if (source.kind !== 'file' || !options.resume || this.offset > source.size)
        throw new FileShareError('EPROTO', `the server offered to resume at ${this.offset} bytes, which this upload cannot do`);
      seed = await hashFileStart(source.file, this.offset);
      if (seed.copy().digest('hex') !== goAhead.prefixSha256) throw new RestartNeeded();
      if (!this.isIn('checking')) return; // given up while hashing
    }
    this.startSending(seed);
  }

  /** Stream the data from {@link offset} (`sending`): after the go-ahead, or at once when eager. */
  private startSending(seed: Hash | undefined): void {
    const { source, options } = this;
    this.enter('sending');
    this.meter = new ProgressMeter(
      { id: this.stream.id, direction: 'upload', path: this.remotePath, totalBytes: source.size },
      (progress) => {
        reportProgress(options.onProgress, progress);
        this.ctx.metrics.emit('progress', progress);
      },
      this.ctx.options.progressInterval,
      this.offset,
      () => options.onProgress !== undefined || this.ctx.metrics.listenerCount('progress') > 0,
    );
    const data =
      source.kind === 'stream'
        ? source.stream
        : source.data
          ? bufferStream(source.data.subarray(this.offset))
          : new FileChunkStream({ path: source.file, start: this.offset, chunkSize: this.ctx.options.chunkSize });
    this.stream.send(data, {
      offset: this.offset,
      seed,
      onChunk: (n) => this.meter?.add(n),
      onError: (err) => this.stop(new FileShareError(err.code, `reading the upload source failed: ${err.message}`, { cause: err })),
      onEnd: (sha256) => {
        this.clientSha = sha256;
        this.enter('ending');
      },
    });
  }

  /** Give up on this attempt: tell the server, stop sending; the attempt settles on its answer. */
  private stop(reason: Error): void {
    if (this.state === 'settled') return;
    this.failure ??= reason;
    if (this.state !== 'stopping') this.enter('stopping');
    this.stream.cancel();
  }

  private onAbort(error: FileShareError): void {
    const endSent = this.clientSha !== undefined;
    this.stop(error);
    // Settle without waiting for the server's answer, which never comes when the connection died
    // silently (the abort hung forever). Before END the server cannot have stored the file: at
    // once. After END it may be committing: its answer gets requestTimeout to arrive.
    if (!endSent) this.stream.abandon(error);
    else this.abortGrace = setTimeout(() => this.stream.abandon(error), this.ctx.options.requestTimeout);
  }

  /** Whose turn it is, for the stall watch: the server never owes an upload data, only its go-ahead, credit and answer. */
  private turn(): TransferTurn {
    switch (this.state) {
      case 'requesting':
      case 'ending':
      case 'stopping':
        return 'server';
      case 'sending':
        return this.stream.awaitingCredit ? 'server' : 'client';
      case 'checking':
      case 'settled':
        return 'client';
    }
  }

  /** The server's final RESPONSE: the upload is done if it stored what we sent. */
  private onAnswer(response: Record<string, unknown>): void {
    const bytes = Number(response.bytes);
    const sent = this.stream.sentBytes;
    const { clientSha, offset } = this;
    const confirmed = clientSha !== undefined && response.sha256 === clientSha && bytes === offset + sent;
    // An abort that crossed the server's commit is too late: the file is stored, so say so
    // rather than report EABORTED for a file that exists (END was sent, the server confirmed it).
    if (this.failure && !confirmed) return this.fail(this.failure);
    if (!confirmed || clientSha === undefined) {
      return this.fail(
        new FileShareError(
          'EINTEGRITY',
          `the server stored ${bytes} bytes with SHA-256 ${String(response.sha256)}, but ${offset + sent} bytes with ${clientSha} were sent`,
        ),
      );
    }
    this.meter?.flush();
    const ms = this.meter?.elapsedMs ?? 0;
    const result: TransferResult = { bytes, sha256: clientSha, ms, mbps: megabytesPerSecond(sent, ms), resumedFrom: offset };
    const { metrics } = this.ctx;
    // the payload is built only for a listener: most clients have none, and this runs per file
    if (metrics.listenerCount('transfer') > 0)
      metrics.emit('transfer', { id: this.stream.id, direction: 'upload', path: this.remotePath, ...result });
    this.settle();
    this.resolve(result);
  }

  private fail(err: Error): void {
    if (this.state === 'settled') return;
    this.stream.stopData();
    if (this.source.kind === 'stream' && !this.stream.sending) this.source.stream.destroy();
    this.settle();
    this.reject(this.failure ?? err);
  }

  private settle(): void {
    this.enter('settled');
    clearTimeout(this.abortGrace);
    for (const cleanup of this.cleanups) cleanup();
  }
}

/**
 * Look at the source before the REQUEST: a local file is opened and its size taken from the open
 * descriptor (synchronously: no path lookup, only the inode's fields); one of at most `smallSize`
 * bytes is read whole right away (one read, no second open), so that its data can follow the
 * REQUEST in the same write. @internal
 */
export async function openSource(source: string | Readable, declaredSize: number | undefined, smallSize: number): Promise<Source> {
  if (typeof source !== 'string') {
    if (typeof source?.read !== 'function') throw new TypeError('upload source must be a file path or a Readable stream');
    return { kind: 'stream', stream: source, size: declaredSize };
  }
  // a plain descriptor rather than a FileHandle, so that it can be closed synchronously below
  let fd: number;
  const inline = syncBudgetLeft();
  try {
    // Opening an existing file takes microseconds: inline while this turn's budget of synchronous
    // file work lasts (storage/local-small-files.ts), saving a thread-pool round trip per file;
    // O_NONBLOCK so that a FIFO under the name cannot block the open (it is then streamed).
    fd = inline ? charged(() => openSync(source, constants.O_RDONLY | O_NONBLOCK)) : await openFd(source, 'r');
  } catch (err) {
    // a folder opens fine read-only on Linux; where it does not, say what it is all the same
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw folderSource(source);
    throw localFileError(source, err);
  }
  try {
    // the size of an open descriptor comes from the kernel's inode at once: no thread-pool trip
    const info = fstatSync(fd);
    if (info.isDirectory()) throw folderSource(source);
    const file = { kind: 'file' as const, file: path.resolve(source), size: info.size, mtimeMs: info.mtimeMs };
    if (!info.isFile() || info.size > smallSize) return file;
    const data = Buffer.allocUnsafe(info.size);
    let filled = 0;
    // a file that shrank meanwhile gives fewer bytes: the server then refuses the announced size
    while (filled < data.length) {
      const at = filled;
      const bytesRead = inline
        ? charged(() => readSync(fd, data, at, data.length - at, at))
        : (await readFd(fd, data, at, data.length - at, at)).bytesRead;
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return { ...file, data: data.subarray(0, filled) };
  } catch (err) {
    throw err instanceof FileShareError ? err : localFileError(source, err);
  } finally {
    // Synchronous: the descriptor was only read from, so its close has nothing to flush on any
    // filesystem, and through the thread pool it cost each upload one more round trip.
    try {
      closeSync(fd);
    } catch {
      // nothing was written through it: nothing to lose
    }
  }
}

function folderSource(source: string): FileShareError {
  return new FileShareError('EISDIR', `${source} is a folder: upload its files one by one`);
}

function localFileError(source: string, err: unknown): FileShareError {
  const e = toFileShareError(err);
  return new FileShareError(
    e.code,
    e.code === 'ENOENT' ? `local file not found: ${source}` : `cannot read local file ${source}: ${e.message}`,
    { cause: err },
  );
}

/** A stream of one buffer, readable at once (so it leaves in the same turn as the REQUEST). @internal */
export function bufferStream(data: Buffer): Readable {
  const stream = new Readable({ read() {} });
  if (data.length > 0) stream.push(data);
  stream.push(null);
  return stream;
}

/**
 * Identifies "this local file, as it is now, going to that remote path": a changed file (size or
 * mtime) gets a new key and so never continues the old one's data.
 */
function resumeKey(source: { file: string; size: number; mtimeMs: number }, remotePath: string): string {
  return createHash('sha256').update(`${source.file}\0${source.size}\0${source.mtimeMs}\0${remotePath}`).digest('hex').slice(0, 32);
}

/** SHA-256 state after the first `count` bytes of a local file. */
async function hashFileStart(file: string, count: number): Promise<Hash> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { start: 0, end: count - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash;
}
