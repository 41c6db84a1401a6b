import { createHash, type Hash, randomUUID } from 'node:crypto';
import { type WriteStream, createReadStream, createWriteStream, statSync } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { ProgressMeter } from '../metrics/progress-meter.ts';
import type { DownloadChannelStream } from './channel-streams.ts';
import { setDescriptorMtime, setLocalMtime } from './mtime.ts';
import { type SmallReceiver, wantsSmallReceiver, writeSmallFile } from './small-download.ts';
import { abortError, onAbort, reportProgress, throwIfAborted } from './abort.ts';
import { watchStall } from './stall-watch.ts';
import type { TransferContext } from './transfer-context.ts';
import type { DownloadOptions, TransferResult } from './transfer-types.ts';

/** Where downloaded bytes go, and how to finish or undo. */
interface Destination {
  /** Bytes already present from an interrupted download (resume), with their SHA-256 state. */
  readonly existing: { bytes: number; hash: Hash } | undefined;
  /** Created when the server's go-ahead arrives: append at `offset` (a confirmed prefix) or start over. */
  open(offset: number): Writable;
  /** Whether a download from `offset` of a file of `size` bytes is held in memory instead (small-download.ts). */
  holdsInMemory(offset: number, size: number | undefined): boolean;
  /**
   * Make the data visible; `expectedBytes` is the whole file's size, `mtime` the one to give it if
   * any, `data` what was held in memory (then nothing was written yet).
   */
  commit(expectedBytes: number, mtime: number | undefined, data: readonly Buffer[] | undefined): Promise<void>;
  /** Undo; with `keep`, a resumable download keeps its partial data for the next attempt. */
  abort(keep: boolean, error: FileShareError): Promise<void>;
}

/**
 * Options of downloads whose destination the caller has just looked at (`lstat`) and found to be
 * a regular file or nothing: the folder calls do so for every file, so the destination is taken as
 * the file's path without a second lookup of it. @internal
 */
const checkedTargets = new WeakSet<DownloadOptions>();

/** Mark `options` as those of a download to a destination known not to be a folder (nor a link to one). @internal */
export function destinationChecked<T extends DownloadOptions>(options: T): T {
  checkedTargets.add(options);
  return options;
}

/**
 * Download `remotePath` into `destination` (a local path, or a Writable). A local file is written
 * under a temporary name beside the target and renamed into place only after the SHA-256 matched.
 * @internal
 */
export async function download(
  ctx: TransferContext,
  remotePath: string,
  destination: string | Writable,
  options: DownloadOptions = {},
): Promise<TransferResult> {
  const { signal } = options;
  throwIfAborted(signal);
  if (options.resume && typeof destination !== 'string') throw new TypeError('options.resume needs a local file path as the destination');
  const target =
    typeof destination === 'string'
      ? await localDestination(destination, remotePath, options.resume === true, checkedTargets.has(options))
      : streamDestination(destination);
  if (signal?.aborted) {
    // aborted while the destination was prepared: no request at all
    const error = abortError(signal);
    await target.abort(true, error);
    throw error;
  }
  const existing = target.existing;
  const { channel, metrics } = ctx;
  let offset = 0;
  let remoteMtime: number | undefined;
  let failure: FileShareError | undefined;
  let meter: ProgressMeter | undefined;
  let stream: DownloadChannelStream;
  /** A small download's data, held in memory until it is verified. */
  let small: SmallReceiver | undefined;
  try {
    const args = existing
      ? { path: remotePath, offset: existing.bytes, prefixSha256: existing.hash.copy().digest('hex') }
      : { path: remotePath, offset: 0 };
    stream = channel.startDownload(args, (goAhead) => {
      if (failure) return;
      const totalBytes = typeof goAhead.size === 'number' ? goAhead.size : undefined;
      if (typeof goAhead.mtime === 'number' && Number.isFinite(goAhead.mtime) && goAhead.mtime >= 0) remoteMtime = goAhead.mtime;
      // the server continues after our partial data only if it hashed the same; else from zero
      offset = existing && goAhead.offset === existing.bytes ? existing.bytes : 0;
      meter = new ProgressMeter(
        { id: stream.id, direction: 'download', path: remotePath, totalBytes },
        (progress) => {
          reportProgress(options.onProgress, progress);
          metrics.emit('progress', progress);
        },
        ctx.options.progressInterval,
        offset,
        () => options.onProgress !== undefined || metrics.listenerCount('progress') > 0,
      );
      const onFailure = (err: FileShareError) => {
        failure ??= new FileShareError(err.code, `writing the download failed: ${err.message}`, { cause: err });
        stream.cancel();
      };
      const onChunk = (n: number) => meter?.add(n);
      if (target.holdsInMemory(offset, totalBytes)) small = stream.receiveSmall(totalBytes!, { onFailure, onChunk });
      else stream.receive(() => target.open(offset), { seedHash: offset > 0 ? existing?.hash : undefined, onFailure, onChunk });
    });
  } catch (err) {
    const error = toFileShareError(err);
    await target.abort(true, error);
    throw error;
  }
  /** Give up now: tell the server, stop writing, and settle without waiting for its answer. */
  const giveUp = (error: FileShareError) => {
    failure ??= error;
    stream.cancel();
    // A download changes nothing on the server: settle now rather than wait for its answer, which
    // never comes when the connection died silently (the abort hung forever).
    stream.abandon(failure);
  };
  const stopListening = onAbort(signal, () => giveUp(abortError(signal!)));
  const stopWatch = watchStall(ctx, `the download of ${remotePath}`, {
    moved: () => stream.receivedBytes,
    turn: () => (!stream.receiving ? 'server' : stream.awaitingData ? 'data' : 'client'),
    fail: giveUp,
  });
  try {
    const response = await stream.done;
    if (failure) throw failure;
    if (!stream.receiving) throw new FileShareError('EPROTO', 'the server finished a download without sending its data stream');
    const totals = await stream.finish();
    const bytes = offset + totals.bytes;
    if (bytes !== response.bytes || totals.sha256 !== response.sha256) {
      throw new FileShareError(
        'EINTEGRITY',
        `received ${bytes} bytes with SHA-256 ${totals.sha256}, but the server sent ${String(response.bytes)} bytes with ${String(response.sha256)}`,
      );
    }
    await target.commit(bytes, options.preserveMtime ? remoteMtime : undefined, small?.chunks);
    meter?.flush();
    const ms = meter?.elapsedMs ?? 0;
    const result: TransferResult = { bytes, sha256: totals.sha256, ms, mbps: megabytesPerSecond(totals.bytes, ms), resumedFrom: offset };
    // the payload is built only for a listener: most clients have none, and this runs per file
    if (metrics.listenerCount('transfer') > 0)
      metrics.emit('transfer', { id: stream.id, direction: 'download', path: remotePath, ...result });
    return result;
  } catch (err) {
    stream.stop();
    const error = failure ?? toFileShareError(err);
    // data that failed its hash check is never kept; an interruption keeps a resumable download's
    await target.abort(error.code !== 'EINTEGRITY', error);
    throw error;
  } finally {
    stopListening();
    stopWatch();
  }
}

/**
 * A local file target: an existing folder receives the remote file's base name. Data goes to a
 * temporary file beside it, renamed into place once verified. A resumable download uses the stable
 * name `.<name>.fileshare-partial`, so that a later attempt finds what an interrupted one left.
 */
async function localDestination(destination: string, remotePath: string, resumable: boolean, checked: boolean): Promise<Destination> {
  let finalPath = destination;
  // A lookup answered from the kernel's caches: synchronous, as the server's path lookups are
  // (docs/storage.md), which saves a thread-pool round trip per file; data moves on the pool.
  let info;
  try {
    info = checked ? undefined : statSync(destination, { throwIfNoEntry: false });
  } catch (err) {
    throw toFileShareError(err);
  }
  if (info?.isDirectory()) {
    const base = path.posix.basename(remotePath);
    if (!base) throw new FileShareError('EISDIR', `cannot download the folder ${remotePath}`);
    finalPath = path.join(destination, base);
  }
  const dir = path.dirname(finalPath);
  const name = path.basename(finalPath);
  const tempPath = resumable
    ? path.join(dir, `.${name}.fileshare-partial`)
    : path.join(dir, `.${name}.fileshare-part-${randomUUID().slice(24)}`); // 12 random hex digits, from a cached block
  const existing = resumable ? await hashExisting(tempPath) : undefined;
  let stream: WriteStream | undefined;
  /** The data is held in memory (small-download.ts): no file exists until the commit. */
  let inMemory = false;
  let startedAt = 0;
  /** Close the temporary file's descriptor (destroying the stream) and wait for it. */
  const closeStream = async () => {
    if (!stream) return;
    if (!stream.destroyed) stream.destroy();
    await new Promise((resolve) => (stream!.closed ? resolve(undefined) : stream!.once('close', () => resolve(undefined))));
  };
  return {
    existing,
    holdsInMemory(offset: number, size: number | undefined) {
      inMemory = wantsSmallReceiver(size, offset, resumable);
      return inMemory;
    },
    open(offset: number) {
      startedAt = offset;
      // The descriptor stays open after the last write (no autoClose): the mtime is set through it,
      // without opening the file again, and it is closed once the file is in place.
      stream =
        offset > 0
          ? createWriteStream(tempPath, { flags: 'r+', start: offset, highWaterMark: 1 << 20, autoClose: false })
          : createWriteStream(tempPath, { flags: resumable ? 'w' : 'wx', highWaterMark: 1 << 20, autoClose: false });
      return stream;
    },
    async commit(expectedBytes: number, mtime: number | undefined, data: readonly Buffer[] | undefined) {
      if (data) return writeSmallFile(tempPath, finalPath, data, expectedBytes, mtime);
      // defence in depth: the hash covers the bytes received, so also check what the writes to
      // the file reported (its descriptor's count, with no second stat of the file)
      const onDisk = startedAt + (stream?.bytesWritten ?? 0);
      if (onDisk !== expectedBytes)
        throw new FileShareError('EIO', `the local file has ${onDisk} bytes, not the ${expectedBytes} received`);
      const fd = (stream as (WriteStream & { fd?: number | null }) | undefined)?.fd;
      if (mtime !== undefined) {
        if (typeof fd === 'number') await setDescriptorMtime(fd, mtime);
        else await setLocalMtime(tempPath, mtime);
      }
      // Windows cannot rename a file that is still open; elsewhere the close need not be waited for
      if (process.platform === 'win32') await closeStream();
      await rename(tempPath, finalPath);
      closeStream().catch(() => {});
    },
    async abort(keep: boolean) {
      if (inMemory) return; // no file was made (writeSmallFile removes its own on failure)
      if (stream) {
        // a kept partial file must hold exactly what was written: flush rather than destroy
        if (keep && resumable && !stream.destroyed && !stream.writableFinished) {
          const flushing = stream;
          await new Promise<void>((resolve) => {
            flushing.once('error', () => resolve());
            flushing.end(() => resolve());
          });
        }
        await closeStream();
      }
      if (!(keep && resumable)) await unlink(tempPath).catch(() => {});
    },
  };
}

/** Size and SHA-256 state of a partial download, if there is one. */
async function hashExisting(file: string): Promise<{ bytes: number; hash: Hash } | undefined> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return undefined;
  }
  if (size === 0) return undefined;
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, hash };
}

/** The caller's Writable: ended on success, destroyed on failure. */
function streamDestination(stream: Writable): Destination {
  if (typeof stream?.write !== 'function') throw new TypeError('download destination must be a file path or a Writable stream');
  return {
    existing: undefined,
    holdsInMemory: () => false,
    open: () => stream,
    commit: async () => {},
    // Destroyed, so a pipeline behind it does not wait forever for an end that never comes. With the
    // error only when someone listens for it: an 'error' event nobody handles would crash the
    // process, and the rejection of download() carries the error anyway.
    abort: async (_keep, error) => {
      if (!stream.destroyed) stream.destroy(stream.listenerCount('error') > 0 ? error : undefined);
    },
  };
}
