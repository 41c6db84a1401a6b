import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { ProgressMeter } from '../metrics/progress-meter.ts';
import { FrameType } from '../protocol/frame.ts';
import { OutgoingStream } from '../transport/outgoing-stream.ts';
import { abortError, onAbort, reportProgress, throwIfAborted } from './abort.ts';
import type { TransferContext } from './transfer-context.ts';
import type { TransferResult, UploadOptions } from './transfer-types.ts';

/**
 * Upload `source` (a local path or a Readable) to `remotePath`: REQUEST, wait for the go-ahead,
 * stream DATA within the server's credit while hashing, END with our SHA-256, and check that the
 * server's SHA-256 matches. See docs/protocol.md §4.
 * @internal
 */
export async function upload(
  ctx: TransferContext,
  source: string | Readable,
  remotePath: string,
  options: UploadOptions = {},
  op: 'upload' | 'discard' = 'upload',
): Promise<TransferResult> {
  const { signal } = options;
  throwIfAborted(signal);
  const { stream, size, owned } = await openSource(source, ctx.options.chunkSize, options.size);
  const { channel, metrics } = ctx;
  return new Promise<TransferResult>((resolve, reject) => {
    let request: ReturnType<typeof channel.request>;
    let outgoing: OutgoingStream | undefined;
    let clientSha: string | undefined;
    let failure: FileShareError | undefined;
    let meter: ProgressMeter | undefined;
    try {
      const args = op === 'upload' ? { path: remotePath, size, overwrite: options.overwrite === true } : { size };
      request = channel.request(op, args, {
        onPartial: () => {
          if (outgoing || failure) return; // only the first PARTIAL is the go-ahead
          const connection = channel.requireOpen();
          meter = new ProgressMeter(
            { id: request.id, direction: 'upload', path: remotePath, totalBytes: size },
            (progress) => {
              reportProgress(options.onProgress, progress);
              metrics.emit('progress', progress);
            },
            ctx.options.progressIntervalMs,
          );
          outgoing = new OutgoingStream(request.id, stream, channel.serverHello?.window ?? 0, connection.schedule, {
            onEnd: (bytes, sha256) => {
              clientSha = sha256;
              connection.sendJson(FrameType.END, request.id, { bytes, sha256 });
            },
            onError: (err) => {
              failure ??= new FileShareError(err.code, `reading the upload source failed: ${err.message}`, { cause: err });
              channel.cancel(request.id);
            },
            onChunk: (n) => meter?.add(n),
          });
          request.entry.outgoing = outgoing;
          connection.addSender(outgoing);
        },
      });
    } catch (err) {
      if (owned) stream.destroy();
      reject(toFileShareError(err));
      return;
    }
    const stopListening = onAbort(signal, () => {
      failure ??= abortError(signal!);
      channel.cancel(request.id);
      if (outgoing) {
        outgoing.cancel();
        channel.connection?.removeSender(outgoing);
      }
      // the promise settles when the server confirms (ERROR EABORTED) or the connection drops
    });
    request.done
      .then((response) => {
        const bytes = Number(response.bytes);
        if (clientSha === undefined || response.sha256 !== clientSha || bytes !== outgoing?.sentBytes) {
          throw new FileShareError('EINTEGRITY', `the server stored ${bytes} bytes with SHA-256 ${String(response.sha256)}, but ${outgoing?.sentBytes} bytes with ${clientSha} were sent`);
        }
        meter?.flush();
        const ms = meter?.elapsedMs ?? 0;
        const result: TransferResult = { bytes, sha256: clientSha, ms, mbps: megabytesPerSecond(bytes, ms) };
        metrics.emit('transfer', { id: request.id, direction: 'upload', path: remotePath, ...result });
        resolve(result);
      })
      .catch((err: FileShareError) => {
        outgoing?.cancel();
        if (owned) stream.destroy();
        reject(failure ?? err);
      })
      .finally(stopListening);
  });
}

async function openSource(source: string | Readable, chunkSize: number, declaredSize: number | undefined): Promise<{ stream: Readable; size: number | undefined; owned: boolean }> {
  if (typeof source !== 'string') {
    if (typeof source?.read !== 'function') throw new TypeError('upload source must be a file path or a Readable stream');
    return { stream: source, size: declaredSize, owned: false };
  }
  let info;
  try {
    info = await stat(source);
  } catch (err) {
    const e = toFileShareError(err);
    throw new FileShareError(e.code, e.code === 'ENOENT' ? `local file not found: ${source}` : `cannot read local file ${source}: ${e.message}`, { cause: err });
  }
  if (info.isDirectory()) throw new FileShareError('EISDIR', `${source} is a folder: upload its files one by one`);
  return { stream: createReadStream(source, { highWaterMark: chunkSize }), size: info.size, owned: true };
}
