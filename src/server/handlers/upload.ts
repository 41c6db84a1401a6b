import { createHash } from 'node:crypto';
import { FileShareError } from '../../errors.ts';
import { type JsonObject, optionalBoolean, optionalCount, requireString } from '../../protocol/fields.ts';
import { ProgressMeter } from '../../metrics/progress-meter.ts';
import { megabytesPerSecond } from '../../metrics/summary.ts';
import type { IncrementalHash, ResumeOptions, UploadTarget } from '../../storage/types.ts';
import type { RequestContext } from '../request-context.ts';
import type { QuotaReservation } from '../quota-ledger.ts';
import { checkFolderSyntax } from './folder-syntax.ts';
import type { Handler } from './handler.ts';

/**
 * `upload { path, size?, overwrite?, resume?, mtime? }`: data goes to a temporary file that is renamed into
 * place only after the byte count and SHA-256 match; any failure removes it and leaves the target
 * alone. With `resume: { key }` an interrupted upload keeps its data, and the next attempt with the
 * same key continues after proving (by the SHA-256 of the kept bytes) that they are a prefix of the
 * same file (docs/protocol.md §4).
 */
export const upload: Handler<'upload'> = {
  async run(request) {
    request.require('write');
    const path = request.path();
    await checkFolderSyntax(request, 'path', path, 'EISDIR');
    const size = optionalCount(request.args, 'size');
    const overwrite = optionalBoolean(request.args, 'overwrite');
    const mtime = optionalCount(request.args, 'mtime');
    const parsed = parseResume(request.args, path);
    // a newer attempt of this upload (the client reconnected after a silent drop) stops this one,
    // which keeps its data, and continues from it: the server's lock decides, never the storage
    const takeover = () => request.abort(new FileShareError('EABORTED', 'a newer attempt of this upload took over'));
    const sizeLimit = smallest(request.limits.maxFileSize, request.user.maxFileSize);
    if (size !== undefined && sizeLimit !== undefined && size > sizeLimit) {
      throw new FileShareError('ETOOLARGE', `${size} bytes exceeds the maximum file size of ${sizeLimit} bytes`);
    }
    // with resume locks shared by all nodes, the server locks across nodes too (the storage then needs no lock of its own)
    const lock = parsed && (await request.lockResume(parsed.key, takeover));
    const resume = parsed && { ...parsed, ...(lock?.shared ? { sharedLock: true } : {}) };
    try {
      const quota = await joinQuota(request, path, overwrite);
      let target: UploadTarget;
      try {
        // refused before a temporary file exists; a resumed upload is checked once its kept bytes are known
        if (!resume) await claimQuota(request, quota, size, 0);
        target = await request.storage.openUpload(path, { overwrite, size, resume, mtime });
      } catch (err) {
        await quota?.reservation.release(0);
        throw err;
      }
      let keptBytes = 0;
      const username = request.user.username;
      const meter = new ProgressMeter(
        { id: request.id, direction: 'upload', path, totalBytes: size, username },
        (progress) => request.metrics.emit('progress', progress),
        request.limits.progressInterval,
        target.offset,
        () => request.metrics.listenerCount('progress') > 0,
      );
      try {
        if (resume) await claimQuota(request, quota, size, target.offset);
        const prefix = await hashPrefix(target);
        const totals = await request.receive(target.stream, {
          offset: target.offset,
          prefixSha256: prefix?.digest,
          seedHash: prefix?.hash,
          maxBytes: sizeLimit === undefined ? undefined : Math.max(0, sizeLimit - target.offset),
          maxBytesCode: 'ETOOLARGE',
          // every byte must fit the user's shared quota account (an unannounced stream reserves as it goes)
          accept: quota && ((received) => quota.reservation.reserveUpTo(received - quota.replaced)),
          onChunk: (n) => meter.add(n),
        });
        if (size !== undefined && totals.bytes !== size) {
          throw new FileShareError('EINTEGRITY', `announced ${size} bytes but ${totals.bytes} arrived`);
        }
        await target.commit();
        keptBytes = totals.bytes - target.offset - (quota?.replaced ?? 0);
        meter.flush();
        const ms = meter.elapsedMs;
        const mbps = megabytesPerSecond(totals.bytes - target.offset, ms);
        request.metrics.emit('transfer', {
          id: request.id,
          direction: 'upload',
          path,
          bytes: totals.bytes,
          ms,
          mbps,
          sha256: totals.sha256,
          username,
        });
        request.emit('upload', { connection: request.connection, username, path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256 });
        return { bytes: totals.bytes, sha256: totals.sha256 };
      } catch (err) {
        // an interruption keeps a resumable upload's data for the next attempt; a bad upload never.
        // ETIMEDOUT is an interruption too: a connection that died silently ends by the idle timeout.
        const code = (err as FileShareError).code;
        if (code === 'ECLOSED' || code === 'EABORTED' || code === 'ETIMEDOUT') {
          await target.suspend();
          // a resumable upload's data stays on disk: count it all until the next measurement; a
          // plain one was discarded by suspend() (before, its reservation was never given back)
          if (resume) keptBytes = Number.MAX_SAFE_INTEGER;
        } else {
          await target.abort();
        }
        throw err;
      } finally {
        await quota?.reservation.release(keptBytes);
      }
    } finally {
      await lock?.release();
    }
  },
};

/**
 * `resume: { key, restart? }` → storage resume options. The client's key is bound to the target
 * path, so one key can never continue another file's data.
 */
function parseResume(args: JsonObject, path: string): ResumeOptions | undefined {
  const raw = args.resume;
  if (raw === undefined || raw === null || raw === false) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new FileShareError('EINVAL', '"resume" must be an object');
  const fields = raw as JsonObject;
  const clientKey = requireString(fields, 'key', 128);
  if (clientKey.length < 16) throw new FileShareError('EINVAL', '"resume.key" must have at least 16 characters');
  const key = createHash('sha256').update(path).update('\0').update(clientKey).digest('hex').slice(0, 40);
  return { key, restart: optionalBoolean(fields, 'restart') };
}

/**
 * The hash of the bytes a resumed upload already has, which then continues with the new data:
 * from the backend when it kept it with the data, else by reading the bytes back.
 */
async function hashPrefix(target: UploadTarget): Promise<{ hash: IncrementalHash; digest: string } | undefined> {
  if (target.offset === 0) return undefined;
  if (target.keptPrefix) {
    const kept = await target.keptPrefix();
    return { hash: kept.hash, digest: kept.sha256 };
  }
  const hash = createHash('sha256');
  for await (const chunk of target.readExisting()) hash.update(chunk as Buffer);
  return { hash, digest: hash.copy().digest('hex') };
}

/** This upload's share of the user's quota, if they have one. @internal */
export interface QuotaShare {
  readonly reservation: QuotaReservation;
  /**
   * Size of the file an overwrite replaces, credited to this upload (its bytes are freed at commit,
   * so they count once); 0 when another overwrite of the same file in progress holds the credit.
   */
  readonly replaced: number;
}

/**
 * Join the user's quota account, when they have a quota. The size of a file that an overwrite
 * replaces is credited (before, it counted twice, so a file could not be replaced by one of the
 * same size once it took more than half of the quota).
 * @internal
 */
export async function joinQuota(request: RequestContext, path: string, overwrite: boolean | undefined): Promise<QuotaShare | undefined> {
  const storage = request.storage;
  if (request.user.quotaBytes === undefined || !storage.usage) return undefined;
  let replaced = 0;
  if (overwrite) {
    try {
      const entry = await storage.stat(path);
      if (entry.type === 'file') replaced = entry.size;
    } catch {
      /* nothing to replace (or not replaceable: openUpload will say why) */
    }
  }
  const reservation = await request.joinQuota();
  // one credit per replaced file: concurrent overwrites of it would otherwise each be credited its size
  if (!reservation) return undefined;
  try {
    return { reservation, replaced: await reservation.creditReplaced(path, replaced) };
  } catch (err) {
    await reservation.release(0);
    throw err;
  }
}

/**
 * Reserve an announced size (minus the `kept` bytes a resumed upload already has on disk, which
 * the usage counts): refused with EQUOTA before any data is sent when it does not fit.
 * @internal
 */
export async function claimQuota(
  request: RequestContext,
  quota: QuotaShare | undefined,
  size: number | undefined,
  kept: number,
): Promise<void> {
  if (!quota || size === undefined) return;
  if (!(await quota.reservation.reserve(size - kept - quota.replaced))) {
    throw new FileShareError('EQUOTA', `${size} bytes do not fit in what is left of the quota of ${request.user.quotaBytes} bytes`);
  }
}

/** The lower of two optional limits. @internal */
export function smallest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
