/**
 * Several small files in one `upload-batch` request (docs/protocol.md §4): their bytes one after
 * another as the request's data, each file with its own SHA-256, each stored or refused on its own.
 * Folder transfers use it for their small files when the server announces batches; every other
 * upload goes through upload.ts.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import type { BatchFile } from '../protocol/operations.ts';
import { abortError, onAbort, throwIfAborted } from './abort.ts';
import { errorOfPart } from './channel.ts';
import type { TransferContext } from './transfer-context.ts';
import type { TransferResult } from './transfer-types.ts';
import { bufferStream, openSource } from './upload.ts';

/** One file for a batch: a local file and where it goes. @internal */
export interface BatchFileUpload {
  readonly local: string;
  readonly remotePath: string;
}

/** Options of {@link uploadBatch}. @internal */
export interface BatchUploadOptions {
  /** Replace existing files (else each existing one is `EEXIST`). */
  readonly overwrite: boolean;
  /** Send each file's modification time, which the server gives the stored file. */
  readonly preserveMtime: boolean;
  readonly signal?: AbortSignal | undefined;
}

/**
 * What became of one file of a batch: stored, refused (the error, as a single upload would have
 * had it), or `'single'`: not fit for a batch after all (it grew past the batch's bounds, is not a
 * regular file), so the caller uploads it on its own.
 * @internal
 */
export type BatchOutcome = TransferResult | FileShareError | 'single';

/** What a batch may hold, from the server's HELLO; undefined when it takes no batches. @internal */
export interface BatchLimits {
  /** Most files per batch. */
  readonly files: number;
  /** Most bytes of data per batch, all files together. */
  readonly bytes: number;
  /** Largest file worth batching: larger ones move on their own, beside the batches. */
  readonly fileBytes: number;
  /** Most bytes of the file list's JSON, so that the REQUEST stays within the server's frame limit. */
  readonly listBytes: number;
}

/** Most bytes of a batch's file list: a few hundred entries of ordinary paths, whatever the server's frame limit. */
const MAX_LIST_JSON = 32 * 1024;
/** Room in the REQUEST for what is not the file list: the frame header, `op`, `overwrite`, brackets. */
const REQUEST_OVERHEAD = 256;

/**
 * The bounds of a batch on this connection, or undefined when the server takes none. A batch's
 * data goes out right behind its REQUEST, so it is kept within the server's eager allowance: a
 * batch never waits a round trip for its go-ahead.
 * @internal
 */
export function batchLimits(ctx: TransferContext): BatchLimits | undefined {
  const hello = ctx.channel.serverHello;
  if (!hello || hello.batchFiles < 2 || hello.eagerBytes === 0) return undefined;
  const bytes = Math.min(hello.batchBytes, hello.eagerBytes);
  const listBytes = Math.min(MAX_LIST_JSON, hello.maxFrameSize - REQUEST_OVERHEAD);
  return { files: hello.batchFiles, bytes, fileBytes: Math.floor(bytes / 4), listBytes };
}

/**
 * Upload `files` in one batch. Resolves to one outcome per file, in order; rejects only when the
 * batch as a whole failed (connection lost, aborted, refused before any file was looked at), in
 * which case none of its files is known to be stored unless the caller checks.
 * @throws FileShareError `EABORTED` on `signal`, `ECLOSED`, `ETIMEDOUT`, or the server's refusal of the request
 * @internal
 */
export async function uploadBatch(
  ctx: TransferContext,
  limits: BatchLimits,
  files: readonly BatchFileUpload[],
  options: BatchUploadOptions,
): Promise<BatchOutcome[]> {
  throwIfAborted(options.signal);
  const outcomes: BatchOutcome[] = new Array<BatchOutcome>(files.length);
  const sent: Array<{ index: number; file: BatchFile; data: Buffer }> = [];
  let total = 0;
  let listBytes = 0;
  for (const [index, file] of files.entries()) {
    try {
      const source = await openSource(file.local, undefined, limits.fileBytes);
      // A file past the batch's bounds (it grew since the walk; or a long path) or no regular file
      // goes on its own: a single upload says what is wrong with it, if anything.
      const fits =
        source.kind === 'file' && source.data?.length === source.size && sent.length < limits.files && total + source.size <= limits.bytes;
      if (!fits) {
        outcomes[index] = 'single';
        continue;
      }
      const entry: BatchFile = {
        path: file.remotePath,
        size: source.size,
        sha256: createHash('sha256').update(source.data!).digest('hex'),
        ...(options.preserveMtime ? { mtime: Math.floor(source.mtimeMs) } : {}),
      };
      const entryBytes = Buffer.byteLength(JSON.stringify(entry)) + 1;
      if (listBytes + entryBytes > limits.listBytes) {
        outcomes[index] = 'single';
        continue;
      }
      total += source.size;
      listBytes += entryBytes;
      sent.push({ index, file: entry, data: source.data! });
    } catch (err) {
      outcomes[index] = toFileShareError(err);
    }
  }
  throwIfAborted(options.signal);
  if (sent.length === 0) return outcomes;
  const answer = await send(ctx, sent, total, options);
  for (const [i, item] of sent.entries()) {
    outcomes[item.index] = outcomeOf(ctx, answer.id, item.file, answer.results[i], answer.ms);
  }
  return outcomes;
}

/** The request, its data and END; resolves to the server's per-file results and how long it took. */
function send(
  ctx: TransferContext,
  items: ReadonlyArray<{ file: BatchFile; data: Buffer }>,
  total: number,
  options: BatchUploadOptions,
): Promise<{ id: number; results: unknown[]; ms: number }> {
  const started = performance.now();
  const stream = ctx.channel.startUpload(
    'upload-batch',
    { files: items.map((i) => i.file), overwrite: options.overwrite },
    () => {},
    true,
    { size: total, timeoutMs: ctx.options.requestTimeout },
  );
  let endSent = false;
  let grace: NodeJS.Timeout | undefined;
  const stopListening = onAbort(options.signal, () => {
    const error = abortError(options.signal!);
    stream.cancel();
    // before END nothing can have been stored: at once; after it the server may be storing files,
    // and its answer (which says which) gets requestTimeout to come
    if (!endSent) stream.abandon(error);
    else grace = setTimeout(() => stream.abandon(error), ctx.options.requestTimeout);
  });
  stream.send(
    bufferStream(
      Buffer.concat(
        items.map((i) => i.data),
        total,
      ),
    ),
    {
      offset: 0,
      onChunk: () => {},
      onError: (error) => {
        stream.cancel();
        stream.abandon(error);
      },
      onEnd: () => {
        endSent = true;
      },
    },
  );
  return stream.done.then(
    (response) => {
      stopListening();
      clearTimeout(grace);
      const results = (response as Record<string, unknown>).results;
      if (!Array.isArray(results) || results.length !== items.length) {
        throw new FileShareError('EPROTO', `the server answered a batch of ${items.length} files with ${describe(results)}`);
      }
      // an abort the server's answer crossed: the answer says what was stored, but the caller asked to stop
      if (options.signal?.aborted) throw abortError(options.signal);
      return { id: stream.id, results, ms: performance.now() - started };
    },
    (err: unknown) => {
      stopListening();
      clearTimeout(grace);
      throw toFileShareError(err);
    },
  );
}

function describe(results: unknown): string {
  return Array.isArray(results) ? `${results.length} results` : 'no results';
}

/** One file's result: stored as sent (size and SHA-256 match), or the server's error for it. */
function outcomeOf(ctx: TransferContext, id: number, file: BatchFile, raw: unknown, ms: number): BatchOutcome {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return new FileShareError('EPROTO', `the server sent no result for ${file.path}`);
  }
  const result = raw as Record<string, unknown>;
  if (typeof result.error === 'object' && result.error !== null && !Array.isArray(result.error)) {
    return errorOfPart(result.error as Record<string, unknown>);
  }
  if (result.bytes !== file.size || result.sha256 !== file.sha256) {
    return new FileShareError(
      'EINTEGRITY',
      `the server stored ${String(result.bytes)} bytes with SHA-256 ${String(result.sha256)}, but ${file.size} bytes with ${file.sha256} were sent`,
    );
  }
  const transfer: TransferResult = { bytes: file.size, sha256: file.sha256, ms, mbps: megabytesPerSecond(file.size, ms), resumedFrom: 0 };
  const { metrics } = ctx;
  // one report per file, at its end: its bytes all went out with the batch's
  if (metrics.listenerCount('progress') > 0) {
    metrics.emit('progress', {
      id,
      direction: 'upload',
      path: file.path,
      bytes: file.size,
      totalBytes: file.size,
      elapsedMs: ms,
      mbps: transfer.mbps,
    });
  }
  if (metrics.listenerCount('transfer') > 0) metrics.emit('transfer', { id, direction: 'upload', path: file.path, ...transfer });
  return transfer;
}

/** Batches on one connection: its bounds and the call that sends one. @internal */
export interface Batcher {
  readonly limits: BatchLimits;
  upload(files: readonly BatchFileUpload[], options: BatchUploadOptions): Promise<BatchOutcome[]>;
}

/**
 * The batcher of a client whose server takes batches (undefined otherwise). Each batch goes over
 * the client's connection of the moment, as every single upload does.
 * @internal
 */
export function batcherFor(context: () => TransferContext): Batcher | undefined {
  const limits = batchLimits(context());
  return limits && { limits, upload: (files, options) => uploadBatch(context(), limits, files, options) };
}
