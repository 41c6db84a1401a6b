import { FileShareError } from '../../errors.ts';
import { optionalBoolean, optionalCount } from '../../protocol/fields.ts';
import { ProgressMeter } from '../../metrics/progress-meter.ts';
import { megabytesPerSecond } from '../../metrics/summary.ts';
import type { Handler } from './handler.ts';

/**
 * `upload { path, size?, overwrite? }`: data goes to a temporary file that is renamed into place
 * only after the byte count and SHA-256 match; any failure removes it and leaves the target alone.
 */
export const upload: Handler = {
  async run(request) {
    request.require('write');
    const { session } = request;
    const { host } = session;
    const path = request.path();
    const size = optionalCount(request.args, 'size');
    const overwrite = optionalBoolean(request.args, 'overwrite');
    const limit = smallest(host.options.maxFileSize, request.user.maxFileSize);
    if (size !== undefined && limit !== undefined && size > limit) {
      throw new FileShareError('ETOOLARGE', `${size} bytes exceeds the maximum file size of ${limit} bytes`);
    }
    const target = await request.storage.openUpload(path, { overwrite, size });
    const username = request.user.username;
    const meter = new ProgressMeter(
      { id: request.id, direction: 'upload', path, totalBytes: size, username },
      (progress) => host.metrics.emit('progress', progress),
      host.options.progressIntervalMs,
    );
    try {
      const totals = await request.receive(target.stream, { maxBytes: limit, onChunk: (n) => meter.add(n) });
      if (size !== undefined && totals.bytes !== size) {
        throw new FileShareError('EINTEGRITY', `announced ${size} bytes but ${totals.bytes} arrived`);
      }
      await target.commit();
      meter.flush();
      const ms = meter.elapsedMs;
      const mbps = megabytesPerSecond(totals.bytes, ms);
      host.metrics.emit('transfer', { id: request.id, direction: 'upload', path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256, username });
      host.emitSafe('upload', { connection: session.info, username, path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256 });
      return { bytes: totals.bytes, sha256: totals.sha256 };
    } catch (err) {
      await target.abort();
      throw err;
    }
  },
};

function smallest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
