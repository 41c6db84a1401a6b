import { Readable } from 'node:stream';
import type { FileShareError } from '../errors.ts';
import type { UdpSummary } from '../metrics/probe-summary.ts';
import { type MeasureSummary, megabytesPerSecond, summarize } from '../metrics/summary.ts';
import { aliased, optionError } from '../options.ts';
import { abortError } from './abort.ts';
import type { ProbeOptions } from './probe.ts';
import type { TransferContext } from './transfer-context.ts';
import { upload } from './upload.ts';

/** Options of `client.measure`. */
export interface MeasureOptions {
  /** Number of pings; 0 measures throughput only (latency fields are then `Infinity`, as for a run with no answer). @default 50 */
  pings?: number;
  /** Pause between pings, ms. @default 100 */
  interval?: number;
  /** @deprecated The old name of `interval`. */
  intervalMs?: number;
  /** A ping without an answer after this long counts as lost, ms. @default 1000 */
  timeout?: number;
  /** @deprecated The old name of `timeout`. */
  timeoutMs?: number;
  /**
   * UDP probes sent during the pings, every `interval`, each lost after `timeout` (see
   * `client.probe()`); 0 skips them. @default the number of pings
   */
  probes?: number;
  /** Size of each UDP probe datagram, bytes (41 to 1472). @default 64 */
  probeSize?: number;
  /** Bytes uploaded to the server's discard sink to measure throughput; 0 skips it. @default 4194304 */
  throughputBytes?: number;
  /** Stop early: pings stop and resolve to the summary so far; an upload in progress is cancelled (throughput 0). */
  signal?: AbortSignal;
}

/**
 * The result of `client.measure()`: the TCP figures with the seed's names, and the UDP probes'.
 * `packetLossPercent` counts pings without an answer in time: over TCP a lost packet is sent
 * again, so it shows there only as latency; `udp.lossPercent` is the loss of the path itself.
 */
export interface MeasureResult extends MeasureSummary {
  /** The UDP probes' figures, or why there are none (`available: false`). */
  readonly udp: UdpSummary;
}

/** @internal */
export async function measure(
  ctx: TransferContext,
  ping: (options: { timeout: number }) => Promise<number>,
  probe: (options: ProbeOptions) => Promise<UdpSummary>,
  options: MeasureOptions = {},
): Promise<MeasureResult> {
  const pings = options.pings ?? 50;
  const intervalMs = aliased(options, 'interval', 'intervalMs') ?? 100;
  const timeoutMs = aliased(options, 'timeout', 'timeoutMs') ?? 1000;
  const throughputBytes = options.throughputBytes ?? 4 * 1024 * 1024;
  const { signal } = options;
  if (!Number.isInteger(pings) || pings < 0)
    throw optionError(`options.pings must be a non-negative integer, got ${JSON.stringify(pings)}`);
  const probes = options.probes ?? pings;
  if (!Number.isInteger(probes) || probes < 0)
    throw optionError(`options.probes must be a non-negative integer, got ${JSON.stringify(probes)}`);
  if (signal?.aborted) throw abortError(signal);
  const probing: Promise<UdpSummary> =
    probes > 0
      ? probe({ count: probes, interval: intervalMs, timeout: timeoutMs, size: options.probeSize ?? 64, ...(signal && { signal }) })
      : Promise.resolve({ available: false, sent: 0, reason: 'not measured (probes: 0)' });
  // settle the probes' promise whatever the pings do, so that its failure is never unhandled
  const probed = probing.then(
    (udp) => ({ udp }),
    (error: unknown) => ({ error }),
  );
  const samples: Array<number | null> = [];
  for (let i = 0; i < pings && !signal?.aborted; i++) {
    try {
      samples.push(await ping({ timeout: timeoutMs }));
    } catch (err) {
      if ((err as FileShareError).code !== 'ETIMEDOUT') throw err;
      samples.push(null);
    }
    if (i < pings - 1 && intervalMs > 0) await sleep(intervalMs, signal);
  }
  const outcome = await probed;
  if ('error' in outcome) throw outcome.error;
  let throughput = 0;
  if (throughputBytes > 0 && !signal?.aborted) {
    try {
      throughput = await measureThroughput(ctx, throughputBytes, signal);
    } catch (err) {
      if ((err as FileShareError).code !== 'EABORTED') throw err;
    }
  }
  return { ...summarize(samples, throughput), udp: outcome.udp };
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
