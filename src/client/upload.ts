import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { ProgressMeter } from '../metrics/progress-meter.ts';
import type { JsonObject } from '../protocol/fields.ts';
import { FrameType } from '../protocol/frame.ts';
import { OutgoingStream } from '../transport/outgoing-stream.ts';
import { mtimeMsOf } from './mtime.ts';
import { abortError, onAbort, reportProgress, throwIfAborted } from './abort.ts';
import { watchStall } from './stall-watch.ts';
import type { TransferContext } from './transfer-context.ts';
import type { TransferResult, UploadOptions } from './transfer-types.ts';

/** Where the bytes come from: a local file (opened at the agreed offset) or the caller's stream. */
type Source =
  { kind: 'file'; file: string; size: number; mtimeMs: number } | { kind: 'stream'; stream: Readable; size: number | undefined };

/**
 * Upload `source` (a local path or a Readable) to `remotePath`: REQUEST, wait for the go-ahead,
 * stream DATA within the server's credit while hashing, END with our SHA-256, and check that the
 * server's SHA-256 matches. See docs/protocol.md §4.
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
  const opened = await openSource(source, options.size);
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

function attempt(
  ctx: TransferContext,
  source: Source,
  remotePath: string,
  options: UploadOptions,
  op: 'upload' | 'discard',
  restart: boolean,
): Promise<TransferResult> {
  const { signal } = options;
  const { channel, metrics } = ctx;
  const size = source.size;
  return new Promise<TransferResult>((resolve, reject) => {
    let request: ReturnType<typeof channel.request>;
    let outgoing: OutgoingStream | undefined;
    let offset = 0;
    let clientSha: string | undefined;
    let failure: Error | undefined;
    let meter: ProgressMeter | undefined;
    let started = false;

    const start = async (part: JsonObject) => {
      const connection = channel.requireConnected();
      offset = typeof part.offset === 'number' ? part.offset : 0;
      let seed: Hash | undefined;
      if (offset > 0) {
        if (source.kind !== 'file' || !options.resume || offset > source.size)
          throw new FileShareError('EPROTO', `the server offered to resume at ${offset} bytes, which this upload cannot do`);
        seed = await hashFileStart(source.file, offset);
        if (seed.copy().digest('hex') !== part.prefixSha256) throw new RestartNeeded();
      }
      if (failure) return;
      meter = new ProgressMeter(
        { id: request.id, direction: 'upload', path: remotePath, totalBytes: size },
        (progress) => {
          reportProgress(options.onProgress, progress);
          metrics.emit('progress', progress);
        },
        ctx.options.progressIntervalMs,
        offset,
      );
      const stream =
        source.kind === 'file' ? createReadStream(source.file, { start: offset, highWaterMark: ctx.options.chunkSize }) : source.stream;
      outgoing = new OutgoingStream(
        request.id,
        stream,
        channel.serverHello?.window ?? 0,
        connection.schedule,
        {
          onEnd: (bytes, sha256) => {
            clientSha = sha256;
            connection.sendJson(FrameType.END, request.id, { bytes: offset + bytes, sha256 });
          },
          onError: (err) => stop(new FileShareError(err.code, `reading the upload source failed: ${err.message}`, { cause: err })),
          onChunk: (n) => meter?.add(n),
        },
        seed,
      );
      request.entry.outgoing = outgoing;
      connection.addSender(outgoing);
    };

    /** Give up on this attempt: tell the server, stop sending; the promise settles on its answer. */
    const stop = (reason: Error) => {
      failure ??= reason;
      channel.cancel(request.id);
      if (outgoing) {
        outgoing.cancel();
        channel.connection?.removeSender(outgoing);
      }
    };

    try {
      const args: Record<string, unknown> = op === 'discard' ? { size } : { path: remotePath, size, overwrite: options.overwrite === true };
      const mtime =
        options.mtime !== undefined
          ? mtimeMsOf(options.mtime)
          : options.preserveMtime && source.kind === 'file'
            ? Math.floor(source.mtimeMs)
            : undefined;
      if (op === 'upload' && mtime !== undefined) args.mtime = mtime;
      if (options.resume && source.kind === 'file') args.resume = { key: resumeKey(source, remotePath), restart };
      request = channel.request(op, args, {
        onPartial: (part) => {
          if (started || failure) return; // only the first PARTIAL is the go-ahead
          started = true;
          start(part).catch((err: Error) => stop(err));
        },
      });
    } catch (err) {
      if (source.kind === 'stream') source.stream.destroy();
      reject(toFileShareError(err));
      return;
    }
    let abortGrace: NodeJS.Timeout | undefined;
    const stopListening = onAbort(signal, () => {
      const error = abortError(signal!);
      stop(error);
      // Settle without waiting for the server's answer, which never comes when the connection died
      // silently (the abort hung forever). Before END the server cannot have stored the file: at
      // once. After END it may be committing: its answer gets requestTimeout to arrive.
      if (clientSha === undefined) request.entry.reject(error);
      else abortGrace = setTimeout(() => request.entry.reject(error), ctx.options.requestTimeout);
    });
    const stopWatch = watchStall(ctx, `the upload of ${remotePath}`, {
      moved: () => outgoing?.sentBytes ?? 0,
      // the server never owes an upload data: only its go-ahead, credit and final answer
      turn: () => (!started || clientSha !== undefined || (outgoing?.awaitingCredit ?? false) ? 'server' : 'client'),
      fail: (error) => {
        stop(error);
        request.entry.reject(error);
      },
    });
    request.done
      .then((response) => {
        const bytes = Number(response.bytes);
        const sent = outgoing?.sentBytes ?? 0;
        const confirmed = clientSha !== undefined && response.sha256 === clientSha && bytes === offset + sent;
        // An abort that crossed the server's commit is too late: the file is stored, so say so
        // rather than report EABORTED for a file that exists (END was sent, the server confirmed it).
        if (failure && !confirmed) throw failure;
        if (!confirmed || clientSha === undefined) {
          throw new FileShareError(
            'EINTEGRITY',
            `the server stored ${bytes} bytes with SHA-256 ${String(response.sha256)}, but ${offset + sent} bytes with ${clientSha} were sent`,
          );
        }
        meter?.flush();
        const ms = meter?.elapsedMs ?? 0;
        const result: TransferResult = { bytes, sha256: clientSha, ms, mbps: megabytesPerSecond(sent, ms), resumedFrom: offset };
        metrics.emit('transfer', { id: request.id, direction: 'upload', path: remotePath, ...result });
        resolve(result);
      })
      .catch((err: FileShareError) => {
        outgoing?.cancel();
        if (source.kind === 'stream' && !outgoing) source.stream.destroy();
        reject(failure ?? err);
      })
      .finally(() => {
        clearTimeout(abortGrace);
        stopListening();
        stopWatch();
      });
  });
}

async function openSource(source: string | Readable, declaredSize: number | undefined): Promise<Source> {
  if (typeof source !== 'string') {
    if (typeof source?.read !== 'function') throw new TypeError('upload source must be a file path or a Readable stream');
    return { kind: 'stream', stream: source, size: declaredSize };
  }
  let info;
  try {
    info = await stat(source);
  } catch (err) {
    const e = toFileShareError(err);
    throw new FileShareError(
      e.code,
      e.code === 'ENOENT' ? `local file not found: ${source}` : `cannot read local file ${source}: ${e.message}`,
      { cause: err },
    );
  }
  if (info.isDirectory()) throw new FileShareError('EISDIR', `${source} is a folder: upload its files one by one`);
  return { kind: 'file', file: path.resolve(source), size: info.size, mtimeMs: info.mtimeMs };
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
