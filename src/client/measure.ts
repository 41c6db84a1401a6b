import { Readable } from 'node:stream';
import type { FileShareError } from '../errors.ts';
import { type MeasureSummary, megabytesPerSecond, summarize } from '../metrics/summary.ts';
import { abortError } from './abort.ts';
import type { TransferContext } from './transfer-context.ts';
import { upload } from './upload.ts';

/** Options of `client.measure`. */
export interface MeasureOptions {
  /** Number of pings; 0 measures throughput only (latency fields are then `Infinity`, as for a run with no answer). @default 50 */
  pings?: number;
  /** Pause between pings, ms. @default 100 */
  intervalMs?: number;
  /** A ping without an answer after this long counts as lost, ms. @default 1000 */
  timeoutMs?: number;
  /** Bytes uploaded to the server's discard sink to measure throughput; 0 skips it. @default 4194304 */
  throughputBytes?: number;
  /** Stop early: pings stop and resolve to the summary so far; an upload in progress is cancelled (throughput 0). */
  signal?: AbortSignal;
}

/** @internal */
export async function measure(
  ctx: TransferContext,
  ping: (options: { timeoutMs: number }) => Promise<number>,
  options: MeasureOptions = {},
): Promise<MeasureSummary> {
  const pings = options.pings ?? 50;
  const intervalMs = options.intervalMs ?? 100;
  const timeoutMs = options.timeoutMs ?? 1000;
  const throughputBytes = options.throughputBytes ?? 4 * 1024 * 1024;
  const { signal } = options;
  if (!Number.isInteger(pings) || pings < 0) throw new TypeError(`options.pings must be a non-negative integer, got ${JSON.stringify(pings)}`);
  if (signal?.aborted) throw abortError(signal);
  const samples: Array<number | null> = [];
  for (let i = 0; i < pings && !signal?.aborted; i++) {
    try {
      samples.push(await ping({ timeoutMs }));
    } catch (err) {
      if ((err as FileShareError).code !== 'ETIMEDOUT') throw err;
      samples.push(null);
    }
    if (i < pings - 1 && intervalMs > 0) await sleep(intervalMs, signal);
  }
  let throughput = 0;
  if (throughputBytes > 0 && !signal?.aborted) {
    try {
      throughput = await measureThroughput(ctx, throughputBytes, signal);
    } catch (err) {
      if ((err as FileShareError).code !== 'EABORTED') throw err;
    }
  }
  return summarize(samples, throughput);
}

/** Upload `bytes` of generated data to the server's discard sink; MB/s. */
async function measureThroughput(ctx: TransferContext, bytes: number, signal: AbortSignal | undefined): Promise<number> {
  const started = performance.now();
  const result = await upload(ctx, generated(bytes), '', { size: bytes, signal }, 'discard');
  return megabytesPerSecond(result.bytes, performance.now() - started);
}

function generated(total: number): Readable {
  const block = Buffer.alloc(256 * 1024, 0x5a);
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, block.length);
      left -= n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
