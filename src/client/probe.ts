import dgram from 'node:dgram';
import net from 'node:net';
import { FileShareError } from '../errors.ts';
import { aliased, optionError } from '../options.ts';
import type { ClientMetrics } from '../metrics/events.ts';
import { type ProbeRecord, type UdpSummary, summarizeProbes } from '../metrics/probe-summary.ts';
import type { JsonObject } from '../protocol/fields.ts';
import {
  MAX_PROBE_SIZE,
  MIN_PROBE_SIZE,
  PROBE_KEY_ID_SIZE,
  PROBE_KEY_SIZE,
  ProbeKind,
  encodeProbe,
  peekProbe,
  verifyProbe,
} from '../protocol/probe.ts';
import { abortError } from './abort.ts';

/** Options of `client.probe()`. */
export interface ProbeOptions {
  /** Probes to send. @default 10 */
  count?: number;
  /** Time between probes, ms (they go out on a fixed schedule, not after each answer). @default 100 */
  interval?: number;
  /** @deprecated The old name of `interval`. */
  intervalMs?: number;
  /** Size of each datagram (UDP payload), bytes, 41 to 1472. @default 64 */
  size?: number;
  /** A probe without an answer after this long counts as lost, ms. @default 1000 */
  timeout?: number;
  /** @deprecated The old name of `timeout`. */
  timeoutMs?: number;
  /**
   * Stop early: no more probes are sent, and the result covers the probes already answered or
   * timed out (those still waiting for their answer are left out).
   */
  signal?: AbortSignal;
}

/** The probe key and port a server handed out at login. @internal */
export interface ProbeGrant {
  readonly port: number;
  readonly keyId: Buffer;
  readonly key: Buffer;
  readonly maxSize: number;
  /** Next sequence number: they increase over all probe runs of a session (the server refuses repeats). */
  nextSeq: number;
}

/** The `udpProbe` field of a login response; undefined when absent or malformed. @internal */
export function parseProbeGrant(response: JsonObject): ProbeGrant | undefined {
  const raw = response.udpProbe;
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { port, keyId, key, maxSize } = raw as JsonObject;
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return undefined;
  if (typeof keyId !== 'string' || !/^[0-9a-f]+$/.test(keyId) || keyId.length !== PROBE_KEY_ID_SIZE * 2) return undefined;
  if (typeof key !== 'string') return undefined;
  const keyBytes = Buffer.from(key, 'base64');
  if (keyBytes.length !== PROBE_KEY_SIZE) return undefined;
  const max = Number.isInteger(maxSize) ? Math.min(MAX_PROBE_SIZE, Math.max(MIN_PROBE_SIZE, maxSize as number)) : MAX_PROBE_SIZE;
  return { port: port as number, keyId: Buffer.from(keyId, 'hex'), key: keyBytes, maxSize: max, nextSeq: 1 };
}

/** What a probe run needs from the client. @internal */
export interface ProbeContext {
  readonly grant: ProbeGrant;
  /** The server's IP address, as the TCP connection reached it. */
  readonly address: string;
  readonly localAddress: string | undefined;
  readonly metrics: ClientMetrics;
  /** Whether the TCP connection is still open: when it closes, the server forgets the key. */
  readonly isOpen: () => boolean;
}

/** @internal */
export function validateProbeOptions(
  options: ProbeOptions,
  maxSize = MAX_PROBE_SIZE,
): { count: number; intervalMs: number; size: number; timeoutMs: number } {
  const count = options.count ?? 10;
  const intervalMs = aliased(options, 'interval', 'intervalMs') ?? 100;
  const size = options.size ?? 64;
  const timeoutMs = aliased(options, 'timeout', 'timeoutMs') ?? 1000;
  if (!Number.isSafeInteger(count) || count < 0)
    throw optionError(`options.count must be a non-negative integer, got ${JSON.stringify(count)}`);
  if (typeof intervalMs !== 'number' || !(intervalMs >= 0) || !Number.isFinite(intervalMs))
    throw optionError(`options.interval must be a non-negative number, got ${JSON.stringify(intervalMs)}`);
  if (!Number.isInteger(size) || size < MIN_PROBE_SIZE || size > maxSize)
    throw optionError(`options.size must be an integer from ${MIN_PROBE_SIZE} to ${maxSize}, got ${JSON.stringify(size)}`);
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))
    throw optionError(`options.timeout must be a positive number, got ${JSON.stringify(timeoutMs)}`);
  return { count, intervalMs, size, timeoutMs };
}

interface Outstanding {
  readonly sentAt: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Send `count` probes every `interval` ms from a fresh UDP socket and collect the answers: the
 * first valid one within `timeout` ms is the probe's round trip, a later one makes it late, more
 * are duplicates. Answers that do not verify (forged, or for another socket) are ignored.
 * @throws ECLOSED when the TCP connection closes during the run
 * @internal
 */
export async function runProbes(ctx: ProbeContext, options: ProbeOptions): Promise<UdpSummary> {
  const { count, intervalMs, size, timeoutMs } = validateProbeOptions(options, ctx.grant.maxSize);
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  const { grant, metrics } = ctx;
  const records: ProbeRecord[] = [];
  const arrivals: number[] = [];
  const bySeq = new Map<number, Outstanding>();
  const firstSeq = grant.nextSeq;
  grant.nextSeq += count;
  let settled = 0;
  let highestAnswered = 0;
  let sendError: Error | undefined;
  let sendErrors = 0;
  let wake: (() => void) | undefined;

  const socket = dgram.createSocket(net.isIPv6(ctx.address) ? 'udp6' : 'udp4');
  socket.on('error', (err) => (sendError = err));
  socket.on('message', (msg) => {
    const fields = peekProbe(msg);
    if (!fields || fields.kind !== ProbeKind.REPLY || !fields.keyId.equals(grant.keyId)) return;
    const index = fields.seq - firstSeq;
    const record = records[index];
    if (!record || !verifyProbe(msg, grant.key)) return;
    const pending = bySeq.get(fields.seq);
    if (pending) {
      const rttMs = performance.now() - pending.sentAt;
      clearTimeout(pending.timer);
      bySeq.delete(fields.seq);
      record.rttMs = rttMs;
      if (fields.seq < highestAnswered) record.reordered = true;
      highestAnswered = Math.max(highestAnswered, fields.seq);
      arrivals.push(rttMs);
      settled++;
      metrics.emit('probe', { seq: fields.seq, index: index + 1, rttMs, bytes: msg.length, timestamp: Date.now() });
      wake?.();
    } else if (record.rttMs === null && !record.late) {
      record.late = true;
    } else {
      record.duplicates++;
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(ctx.localAddress ? { address: ctx.localAddress } : {}) }, () => {
        socket.removeListener('error', reject);
        resolve();
      });
    });
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      await sleepUntil(started + i * intervalMs, signal);
      if (signal?.aborted) break;
      if (!ctx.isOpen())
        throw new FileShareError('ECLOSED', 'the connection closed during the UDP probes (the server forgot the probe key)');
      const seq = firstSeq + i;
      const record: ProbeRecord = { rttMs: null, late: false, duplicates: 0, reordered: false };
      records.push(record);
      const entry: Outstanding = { sentAt: performance.now(), timer: undefined };
      entry.timer = setTimeout(() => {
        bySeq.delete(seq);
        settled++;
        metrics.emit('probeLost', { seq, index: i + 1, timeoutMs, timestamp: Date.now() });
        wake?.();
      }, timeoutMs);
      bySeq.set(seq, entry);
      const datagram = encodeProbe(
        { kind: ProbeKind.PROBE, keyId: grant.keyId, seq, sentAt: performance.timeOrigin + entry.sentAt },
        grant.key,
        size,
      );
      socket.send(datagram, grant.port, ctx.address, (err) => {
        if (!err) return;
        sendError = err;
        sendErrors++;
      });
    }
    // wait for the answers (or timeouts) of what was sent; an abort stops waiting at once
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    while (settled < records.length && !signal?.aborted) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    signal?.removeEventListener('abort', onAbort);
  } finally {
    for (const entry of bySeq.values()) clearTimeout(entry.timer);
    socket.close();
  }
  // probes still waiting for their answer when the run was stopped are neither answered nor lost
  const done = records.filter((r, i) => r.rttMs !== null || !bySeq.has(firstSeq + i));
  if (sendError && sendErrors >= done.length && done.length > 0) {
    return {
      available: false,
      sent: done.length,
      reason: `UDP probes to ${ctx.address}:${grant.port} could not be sent: ${sendError.message}`,
    };
  }
  return summarizeProbes(done, arrivals, size, grant.port);
}

function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<void> {
  const ms = at - performance.now();
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
