import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { ProgressMeter } from '../metrics/progress-meter.ts';
import { encodeCredit } from '../protocol/encoder.ts';
import { IncomingStream } from '../transport/incoming-stream.ts';
import { abortError, onAbort, reportProgress, throwIfAborted } from './abort.ts';
import type { TransferContext } from './transfer-context.ts';
import type { DownloadOptions, TransferResult } from './transfer-types.ts';

/** Where downloaded bytes go, and how to finish or undo. */
interface Destination {
  /** Created when the server's go-ahead arrives. */
  open(): Writable;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Download `remotePath` into `destination` (a local path, or a Writable). A local file is written
 * under a temporary name beside the target and renamed into place only after the SHA-256 matched.
 * @internal
 */
export async function download(ctx: TransferContext, remotePath: string, destination: string | Writable, options: DownloadOptions = {}): Promise<TransferResult> {
  const { signal } = options;
  throwIfAborted(signal);
  const target = typeof destination === 'string' ? await localDestination(destination, remotePath) : streamDestination(destination);
  const { channel, metrics } = ctx;
  let incoming: IncomingStream | undefined;
  let failure: FileShareError | undefined;
  let meter: ProgressMeter | undefined;
  let request: ReturnType<typeof channel.request>;
  try {
    request = channel.request('download', { path: remotePath, offset: 0 }, {
      onPartial: (part) => {
        if (incoming || failure) return;
        const connection = channel.requireOpen();
        const totalBytes = typeof part.size === 'number' ? part.size : undefined;
        meter = new ProgressMeter(
          { id: request.id, direction: 'download', path: remotePath, totalBytes },
          (progress) => {
            reportProgress(options.onProgress, progress);
            metrics.emit('progress', progress);
          },
          ctx.options.progressIntervalMs,
        );
        incoming = new IncomingStream(target.open(), {
          window: ctx.options.window,
          sendCredit: (bytes) => connection.send(encodeCredit(request.id, bytes)),
          onFailure: (err) => {
            failure ??= new FileShareError(err.code, `writing the download failed: ${err.message}`, { cause: err });
            channel.cancel(request.id);
          },
          onChunk: (n) => meter?.add(n),
        });
        request.entry.incoming = incoming;
      },
    });
  } catch (err) {
    await target.abort();
    throw toFileShareError(err);
  }
  const stopListening = onAbort(signal, () => {
    failure ??= abortError(signal!);
    channel.cancel(request.id);
    incoming?.stop();
  });
  try {
    const response = await request.done;
    if (failure) throw failure;
    if (!incoming) throw new FileShareError('EPROTO', 'the server finished a download without sending its data stream');
    const totals = await incoming.finish();
    if (totals.bytes !== response.bytes || totals.sha256 !== response.sha256) {
      throw new FileShareError('EINTEGRITY', `received ${totals.bytes} bytes with SHA-256 ${totals.sha256}, but the server sent ${String(response.bytes)} bytes with ${String(response.sha256)}`);
    }
    await target.commit();
    meter?.flush();
    const ms = meter?.elapsedMs ?? 0;
    const result: TransferResult = { bytes: totals.bytes, sha256: totals.sha256, ms, mbps: megabytesPerSecond(totals.bytes, ms) };
    metrics.emit('transfer', { id: request.id, direction: 'download', path: remotePath, ...result });
    return result;
  } catch (err) {
    incoming?.stop();
    await target.abort();
    throw failure ?? toFileShareError(err);
  } finally {
    stopListening();
  }
}

/** A local file target: an existing folder receives the remote file's base name. */
async function localDestination(destination: string, remotePath: string): Promise<Destination> {
  let finalPath = destination;
  try {
    if ((await stat(destination)).isDirectory()) {
      const base = path.posix.basename(remotePath);
      if (!base) throw new FileShareError('EISDIR', `cannot download the folder ${remotePath}`);
      finalPath = path.join(destination, base);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw toFileShareError(err);
  }
  const tempPath = path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.fileshare-part-${randomBytes(6).toString('hex')}`);
  let stream: Writable | undefined;
  return {
    open() {
      stream = createWriteStream(tempPath, { flags: 'wx', highWaterMark: 1 << 20 });
      return stream;
    },
    async commit() {
      await rename(tempPath, finalPath);
    },
    async abort() {
      if (!stream) return;
      stream.destroy();
      await new Promise((resolve) => (stream!.closed ? resolve(undefined) : stream!.once('close', resolve)));
      await unlink(tempPath).catch(() => {});
    },
  };
}

/** The caller's Writable: ended on success, destroyed with the error on failure. */
function streamDestination(stream: Writable): Destination {
  if (typeof stream?.write !== 'function') throw new TypeError('download destination must be a file path or a Writable stream');
  return {
    open: () => stream,
    commit: async () => {},
    abort: async () => {},
  };
}
