import { FileShareError } from '../../errors.ts';
import { optionalCount } from '../../protocol/fields.ts';
import { ProgressMeter } from '../../metrics/progress-meter.ts';
import { megabytesPerSecond } from '../../metrics/summary.ts';
import type { Handler } from './handler.ts';

/** `download { path, offset? }`: `PARTIAL { size, mtime, offset }`, DATA within credit, then `{ bytes, sha256 }`. */
export const download: Handler = {
  async run(request) {
    request.require('read');
    const { session } = request;
    const { host } = session;
    const path = request.path();
    const offset = optionalCount(request.args, 'offset') ?? 0;
    if (offset !== 0) throw new FileShareError('EINVAL', 'resuming a download at an offset is not supported by this server');
    const handle = await request.storage.openRead(path, { offset, highWaterMark: host.options.chunkSize });
    const username = request.user.username;
    const meter = new ProgressMeter(
      { id: request.id, direction: 'download', path, totalBytes: handle.size, username },
      (progress) => host.metrics.emit('progress', progress),
      host.options.progressIntervalMs,
    );
    try {
      request.partial({ size: handle.size, mtime: handle.mtime, offset });
      const totals = await request.send(handle.stream, { onChunk: (n) => meter.add(n) });
      meter.flush();
      const ms = meter.elapsedMs;
      const mbps = megabytesPerSecond(totals.bytes, ms);
      host.metrics.emit('transfer', { id: request.id, direction: 'download', path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256, username });
      host.emitSafe('download', { connection: session.info, username, path, bytes: totals.bytes, ms, mbps, sha256: totals.sha256 });
      return { bytes: totals.bytes, sha256: totals.sha256 };
    } finally {
      handle.stream.destroy();
    }
  },
};
