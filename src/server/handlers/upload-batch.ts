import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { FileShareError, toFileShareError } from '../../errors.ts';
import { ProgressMeter } from '../../metrics/progress-meter.ts';
import { megabytesPerSecond } from '../../metrics/summary.ts';
import { errorBody } from '../../protocol/control.ts';
import { type JsonObject, optionalBoolean, optionalCount, requireCount, requireSha256, requireString } from '../../protocol/fields.ts';
import type { BatchFileResult, TransferDone } from '../../protocol/operations.ts';
import { normalizeRemotePath } from '../../storage/remote-path.ts';
import type { UploadTarget } from '../../storage/types.ts';
import { syncBudgetLeft } from '../../sync-budget.ts';
import type { RequestContext } from '../request-context.ts';
import { checkNamedFolder } from './folder-syntax.ts';
import type { Handler } from './handler.ts';
import { claimQuota, joinQuota, smallest } from './upload.ts';

/**
 * Most bytes of data one `upload-batch` carries, all its files together (announced in the HELLO
 * as `batchBytes`). The server holds a batch's data in memory until its files are stored, so this
 * bounds what a connection's requests can make it hold: at most `maxRequestsInFlight` times this.
 * @internal
 */
export const MAX_BATCH_BYTES = 65_536;

/** One file of the batch, as the request describes it. */
interface BatchItem {
  readonly path: string;
  /** The raw path ended in `/`: it names a folder, which an upload cannot create. */
  readonly namesFolder: boolean;
  readonly size: number;
  readonly sha256: string;
  readonly mtime: number | undefined;
}

/**
 * `upload-batch { files: [{ path, size, sha256, mtime? }], overwrite? }`: several small new files
 * in one request (docs/protocol.md §4). The data (every file's bytes in order) is taken whole and
 * checked against END first; a mismatch there stores nothing. Then each file is stored as a single
 * upload would store it (temporary file, its own SHA-256 checked, moved into place), and a file
 * that fails (exists, over a limit, a bad path, a wrong hash) is reported in its place of the
 * answer while the others go on. A cancel stops before the next file; those stored stay.
 */
export const uploadBatch: Handler<'upload-batch'> = {
  async run(request) {
    request.require('write');
    const maxFiles = request.limits.maxBatchFiles;
    if (maxFiles === 0) throw new FileShareError('EINVAL', 'this server takes no upload batches');
    const items = parseItems(request.args, maxFiles);
    const overwrite = optionalBoolean(request.args, 'overwrite');
    const total = items.reduce((n, item) => n + item.size, 0);
    if (total > MAX_BATCH_BYTES) throw new FileShareError('EINVAL', `a batch carries at most ${MAX_BATCH_BYTES} bytes, not ${total}`);
    const data = new BatchData(total);
    // The rest of the socket read that carried the REQUEST (its DATA and END, for a batch sent
    // whole) is decoded before a microtask runs: with them held, no go-ahead need be sent.
    await Promise.resolve();
    await request.receive(data.sink);
    if (data.length !== total) throw new FileShareError('EINTEGRITY', `the files add up to ${total} bytes but ${data.length} arrived`);
    const results: BatchFileResult[] = [];
    let offset = 0;
    for (const item of items) {
      // The files of a batch follow one another within a turn; once the turn's budget of inline
      // file work is spent, the rest wait for the next turn rather than spill to the thread pool,
      // where each creation costs two thread hand-offs and contends for the folder's lock.
      if (!syncBudgetLeft()) await nextTurn();
      if (request.signal.aborted) throw request.signal.reason;
      const bytes = data.bytes.subarray(offset, offset + item.size);
      offset += item.size;
      try {
        results.push(await storeFile(request, item, bytes, overwrite));
      } catch (err) {
        results.push({ error: errorBody(publicError(request, err, item.path)) });
      }
    }
    return { results };
  },
};

/** The `files` argument, checked whole before any data is taken. @throws EINVAL, EACCES */
function parseItems(args: JsonObject, maxFiles: number): BatchItem[] {
  const files = args.files;
  if (!Array.isArray(files) || files.length === 0) throw new FileShareError('EINVAL', '"files" must be a non-empty array');
  if (files.length > maxFiles) throw new FileShareError('EINVAL', `a batch carries at most ${maxFiles} files, not ${files.length}`);
  return files.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new FileShareError('EINVAL', `"files[${i}]" must be an object`);
    const file = raw as JsonObject;
    const rawPath = requireString(file, 'path');
    const path = normalizeRemotePath(rawPath);
    return {
      path,
      namesFolder: /\/\.?$/.test(rawPath) && path !== '/',
      size: requireCount(file, 'size'),
      sha256: requireSha256(file, 'sha256'),
      mtime: optionalCount(file, 'mtime'),
    };
  });
}

/** Store one file of the batch, as `upload` stores a new file; resolves to its size and SHA-256. */
async function storeFile(request: RequestContext, item: BatchItem, bytes: Buffer, overwrite: boolean): Promise<TransferDone> {
  const { path, size } = item;
  if (item.namesFolder) await checkNamedFolder(request.storage, path, 'EISDIR');
  const sizeLimit = smallest(request.limits.maxFileSize, request.user.maxFileSize);
  if (sizeLimit !== undefined && size > sizeLimit) {
    throw new FileShareError('ETOOLARGE', `${size} bytes exceeds the maximum file size of ${sizeLimit} bytes`);
  }
  // checked before anything is created: a file that does not hash to its own digest is never stored
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== item.sha256) throw new FileShareError('EINTEGRITY', `SHA-256 of the received data does not match the sender's: ${path}`);
  const username = request.user.username;
  const meter = new ProgressMeter(
    { id: request.id, direction: 'upload', path, totalBytes: size, username },
    (progress) => request.metrics.emit('progress', progress),
    request.limits.progressInterval,
    0,
    () => request.metrics.listenerCount('progress') > 0,
  );
  const quota = await joinQuota(request, path, overwrite);
  let kept = 0;
  try {
    await claimQuota(request, quota, size, 0);
    const target = await request.storage.openUpload(path, { overwrite, size, mtime: item.mtime });
    try {
      await writeAll(target, bytes);
      await target.commit();
    } catch (err) {
      await target.abort();
      throw err;
    }
    kept = size - (quota?.replaced ?? 0);
  } finally {
    await quota?.reservation.release(kept);
  }
  meter.add(size);
  meter.flush();
  const ms = meter.elapsedMs;
  const mbps = megabytesPerSecond(size, ms);
  if (request.metrics.listenerCount('transfer') > 0) {
    request.metrics.emit('transfer', { id: request.id, direction: 'upload', path, bytes: size, ms, mbps, sha256, username });
  }
  request.emit('upload', { connection: request.connection, username, path, bytes: size, ms, mbps, sha256 });
  return { bytes: size, sha256 };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Hand a file's bytes to its upload target and wait until it has taken them all. */
function writeAll(target: UploadTarget, bytes: Buffer): Promise<void> {
  // end()'s callback comes with 'finish', or with the stream's error
  return new Promise((resolve, reject) => target.stream.end(bytes, (err?: Error | null) => (err ? reject(err) : resolve())));
}

/**
 * What a client may see of one file's failure: internal details go to the server's `error`
 * event, as for a whole request (session.ts), and the file gets a plain `EIO`.
 */
function publicError(request: RequestContext, err: unknown, path: string): FileShareError {
  const error = toFileShareError(err);
  if (error.code !== 'EIO') return error;
  request.emit(
    'error',
    new Error(`upload-batch of ${path} failed for connection ${request.connection.id}: ${error.message}`, { cause: err }),
  );
  return new FileShareError('EIO', `storing ${path} failed on the server`);
}

/** The batch's data, taken into one buffer of the announced size (the request refuses more). */
class BatchData {
  readonly bytes: Buffer;
  length = 0;
  readonly sink: Writable;

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafe(size);
    this.sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.length + chunk.length > size)
          return callback(new FileShareError('EINTEGRITY', `more than the announced ${size} bytes arrived`));
        chunk.copy(this.bytes, this.length);
        this.length += chunk.length;
        callback();
      },
    });
  }
}
