import { createHash, type Hash } from 'node:crypto';
import { FileShareError } from '../../errors.ts';
import { type JsonObject, optionalBoolean, optionalCount, requireString } from '../../protocol/fields.ts';
import { ProgressMeter } from '../../metrics/progress-meter.ts';
import { megabytesPerSecond } from '../../metrics/summary.ts';
import type { ResumeOptions, UploadTarget } from '../../storage/types.ts';
import type { ActiveRequest } from '../active-request.ts';
import type { Handler } from './handler.ts';

/**
 * `upload { path, size?, overwrite?, resume? }`: data goes to a temporary file that is renamed into
 * place only after the byte count and SHA-256 match; any failure removes it and leaves the target
 * alone. With `resume: { key }` an interrupted upload keeps its data, and the next attempt with the
 * same key continues after proving (by the SHA-256 of the kept bytes) that they are a prefix of the
 * same file (docs/protocol.md §4).
 */
export const upload: Handler = {
  async run(request) {
    request.require('write');
    const { session } = request;
    const { host } = session;
    const path = request.path();
    const size = optionalCount(request.args, 'size');
    const overwrite = optionalBoolean(request.args, 'overwrite');
    const parsed = parseResume(request.args, path);
    // a newer attempt of this upload (the client reconnected after a silent drop) stops this one,
    // which keeps its data, and continues from it
    const onTakeover = () => request.abort(new FileShareError('EABORTED', 'a newer attempt of this upload took over'));
    const resume = parsed && { ...parsed, onTakeover };
    const sizeLimit = smallest(host.options.maxFileSize, request.user.maxFileSize);
    if (size !== undefined && sizeLimit !== undefined && size > sizeLimit) {
      throw new FileShareError('ETOOLARGE', `${size} bytes exceeds the maximum file size of ${sizeLimit} bytes`);
    }
    const room = await quotaRoom(request, path, overwrite);
    // refused before a temporary file exists; a resumed upload is checked once its kept bytes are known
    if (!resume) checkQuota(request, size, room);
    const target = await request.storage.openUpload(path, { overwrite, size, resume });
    const username = request.user.username;
    const meter = new ProgressMeter(
      { id: request.id, direction: 'upload', path, totalBytes: size, username },
      (progress) => host.metrics.emit('progress', progress),
      host.options.progressIntervalMs,
      target.offset,
    );
    try {
      // the kept bytes of a resumed upload are already in the usage, and they are part of this file
      const quotaLeft = room === undefined ? undefined : room + target.offset;
      if (resume) checkQuota(request, size, quotaLeft);
      const prefix = await hashPrefix(target);
      const byQuota = quotaLeft !== undefined && (sizeLimit === undefined || quotaLeft < sizeLimit);
      const limit = byQuota ? quotaLeft : sizeLimit;
      const totals = await request.receive(target.stream, {
        offset: target.offset,
        prefixSha256: prefix?.digest,
        seedHash: prefix?.hash,
        maxBytes: limit === undefined ? undefined : Math.max(0, limit - target.offset),
        maxBytesCode: byQuota ? 'EQUOTA' : 'ETOOLARGE',
        onChunk: (n) => meter.add(n),
      });
      if (size !== undefined && totals.bytes !== size) {
        throw new FileShareError('EINTEGRITY', `announced ${size} bytes but ${totals.bytes} arrived`);
      }
      await target.commit();
      meter.flush();
      const ms = meter.elapsedMs;
      const mbps = megabytesPerSecond(totals.bytes - target.offset, ms);
      host.metrics.emit('transfer', { id: request.id, direction: 'upload', path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256, username });
      host.emitSafe('upload', { connection: session.info, username, path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256 });
      return { bytes: totals.bytes, sha256: totals.sha256 };
    } catch (err) {
      // an interruption keeps a resumable upload's data for the next attempt; a bad upload never.
      // ETIMEDOUT is an interruption too: a connection that died silently ends by the idle timeout.
      const code = (err as FileShareError).code;
      if (code === 'ECLOSED' || code === 'EABORTED' || code === 'ETIMEDOUT') await target.suspend();
      else await target.abort();
      throw err;
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

/** Hash the bytes a resumed upload already has; the hash then continues with the new data. */
async function hashPrefix(target: UploadTarget): Promise<{ hash: Hash; digest: string } | undefined> {
  if (target.offset === 0) return undefined;
  const hash = createHash('sha256');
  for await (const chunk of target.readExisting()) hash.update(chunk as Buffer);
  return { hash, digest: hash.copy().digest('hex') };
}

/**
 * Bytes the user may store in this file, when they have a quota: what is left, plus the size of the
 * file an overwrite replaces (before, it counted twice, so a file could not be replaced by one of
 * the same size once it took more than half of the quota).
 */
async function quotaRoom(request: ActiveRequest, path: string, overwrite: boolean | undefined): Promise<number | undefined> {
  const quota = request.user.quotaBytes;
  if (quota === undefined || !request.storage.usage) return undefined;
  let replaced = 0;
  if (overwrite) {
    try {
      const entry = await request.storage.stat(path);
      if (entry.type === 'file') replaced = entry.size;
    } catch {
      /* nothing to replace (or not replaceable: openUpload will say why) */
    }
  }
  return Math.max(0, quota - (await request.storage.usage('/')) + replaced);
}

/** An announced size that does not fit is refused before any data is sent. */
function checkQuota(request: ActiveRequest, size: number | undefined, left: number | undefined): void {
  if (size !== undefined && left !== undefined && size > left) {
    throw new FileShareError('EQUOTA', `${size} bytes exceeds the ${left} bytes left of the quota of ${request.user.quotaBytes} bytes`);
  }
}

function smallest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
