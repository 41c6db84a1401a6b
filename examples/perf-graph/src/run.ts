/**
 * The measurement loop: connect, log in, ping every `intervalMs` (each ping lost after `timeoutMs`)
 * while the optional load runs, until `count` pings, `durationMs` or the signal; then measure the
 * throughput and log out. Pings are sent on a fixed schedule, not one after the other, so a slow
 * answer does not slow the rate down; points are reported in the order they were sent.
 */
import type { FileShareClientOptions } from 'fileshare';
import { type Load, startLoad } from './load.ts';
import { formatSize } from './options.ts';
import { Session, sleep } from './session.ts';
import { type LiveStats, type Point, RunStats } from './stats.ts';
import { UdpTrack } from './udp.ts';

export interface RunOptions {
  readonly client: FileShareClientOptions;
  readonly user: string;
  readonly password: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Number of pings; 0 = until `durationMs` or the signal. */
  readonly count: number;
  /** Length of the run, ms; 0 = no limit. */
  readonly durationMs: number;
  /** Size of the load's transfers, bytes; 0 = no load. */
  readonly loadBytes: number;
  /** Bytes of the discard upload that measures throughput when there is no load; 0 = skip. */
  readonly throughputBytes: number;
  /** Answered pings in the rolling average. */
  readonly window: number;
  /** Ends the run early (Ctrl-C); the result still holds what was measured. */
  readonly signal: AbortSignal;
}

export interface RunHooks {
  /** Logged in; the pings start when the returned promise settles. */
  onConnected?(username: string): void | Promise<void>;
  /** A ping settled (reported in the order of sending). */
  onPoint?(point: Point, stats: LiveStats): void;
  /** Something worth a line on stderr that does not stop the run. */
  onWarning?(message: string): void;
  /** Something worth a line on stdout (phases of the run). */
  onInfo?(message: string): void;
}

export interface RunResult {
  /** Why the run could not start (connect or login failed); undefined when it ran. */
  readonly failure?: string;
  /** The connection dropped and could not be restored before the end of the run. */
  readonly connectionLost?: string;
  /** How many times the connection was restored during the run. */
  readonly reconnects: number;
  readonly points: readonly Point[];
  /** The load's average MB/s, or the discard upload's; 0 when not measured. */
  readonly throughputMBps: number;
  /** Pings the run was set to send (0 = unbounded). */
  readonly planned: number;
  /** The UDP probes' runs (one per connection), and why there were none when the server offers none. */
  readonly udp?: { readonly runs: UdpTrack['runs']; readonly unavailable: string | undefined };
}

export async function run(opts: RunOptions, hooks: RunHooks = {}): Promise<RunResult> {
  const planned = opts.count || (opts.durationMs ? Math.ceil(opts.durationMs / opts.intervalMs) : 0);
  // `stop` ends the pings and any reconnection: on Ctrl-C, at the end, or when reconnecting is hopeless
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  let gaveUp: string | undefined;
  // pings sent so far: a probe run started after a reconnection pairs its first probe with the next one
  const progress = { sent: 0 };
  let udp: UdpTrack | undefined;
  const session = new Session(
    { client: opts.client, user: opts.user, password: opts.password, timeoutMs: opts.timeoutMs, signal: stop.signal },
    {
      onDrop: (reason) => hooks.onWarning?.(`connection lost: ${reason}; reconnecting...`),
      onReconnected: () => {
        hooks.onWarning?.(`reconnected to ${session.where}`);
        const left = planned > 0 ? planned - progress.sent : 0;
        if (udp && session.client && (planned === 0 || left > 0)) udp.start(session.client, progress.sent, left);
      },
      onGiveUp: (reason) => {
        gaveUp = reason;
        stop.abort();
      },
    },
  );
  try {
    const failure = await session.open();
    if (failure !== undefined) return { failure, points: [], throughputMBps: 0, planned, reconnects: 0 };
    await hooks.onConnected?.(session.client?.loggedInAs?.username ?? opts.user);
    const load =
      opts.loadBytes > 0 && !stop.signal.aborted
        ? startLoad(
            () => session.client,
            opts.loadBytes,
            (m) => hooks.onWarning?.(m),
          )
        : undefined;
    let wake = () => {};
    udp = new UdpTrack({ intervalMs: opts.intervalMs, timeoutMs: opts.timeoutMs, signal: stop.signal }, () => wake());
    const points = await pingLoop(session, opts, stop.signal, load, hooks, udp, progress, planned, (fn) => (wake = fn));
    await load?.stop();
    const down = session.client?.connected ? undefined : (gaveUp ?? session.lastError ?? 'the connection was down at the end of the run');
    const throughputMBps = load ? load.meter.average() : await measureThroughput(session, opts, hooks);
    return {
      points,
      throughputMBps,
      planned,
      reconnects: session.reconnects,
      udp: { runs: udp.runs, unavailable: udp.unavailable },
      ...(down !== undefined && { connectionLost: down }),
    };
  } finally {
    stop.abort();
    opts.signal.removeEventListener('abort', onAbort);
    await session.close();
  }
}

async function pingLoop(
  session: Session,
  opts: RunOptions,
  signal: AbortSignal,
  load: Load | undefined,
  hooks: RunHooks,
  udp: UdpTrack,
  progress: { sent: number },
  planned: number,
  onUdpSettled: (fn: () => void) => void,
): Promise<Point[]> {
  const stats = new RunStats(opts.window);
  const points: Point[] = [];
  const settled: Array<Omit<Point, 'avgMs'> | undefined> = [];
  const inflight: Array<Promise<void>> = [];
  // a point goes out once its ping has settled and, when a probe went with it, the probe too
  const emit = () => {
    for (let i = points.length; settled[i] && !udp.pending(i); i = points.length) {
      const probe = udp.result(i);
      const point = stats.add({ ...settled[i]!, ...(probe !== undefined && { udpRttMs: probe }) });
      points.push(point);
      hooks.onPoint?.(point, stats.stats());
    }
  };
  onUdpSettled(emit);
  const started = performance.now();
  if (session.client && !signal.aborted) udp.start(session.client, 0, planned);
  for (let i = 0; ; i++) {
    const due = i * opts.intervalMs;
    if ((opts.count && i >= opts.count) || (opts.durationMs && due >= opts.durationMs)) break;
    await sleep(started + due - performance.now(), signal);
    if (signal.aborted) break;
    const sentAt = Date.now();
    const t = (performance.now() - started) / 1000;
    progress.sent = i + 1;
    inflight.push(
      session.ping().then((rttMs) => {
        settled[i] = { seq: i + 1, sentAt, t, rttMs, mbps: load ? load.meter.current() : null };
        emit();
      }),
    );
  }
  await Promise.all(inflight);
  await udp.finished();
  emit();
  return points;
}

/** With no load: the discard upload of `client.measure` (which insists on at least one ping). */
async function measureThroughput(session: Session, opts: RunOptions, hooks: RunHooks): Promise<number> {
  const client = session.client;
  if (opts.throughputBytes <= 0 || !client?.connected || opts.signal.aborted) return 0;
  hooks.onInfo?.(`measuring throughput: uploading ${formatSize(opts.throughputBytes)} to the server's discard sink...`);
  // measure() does not pass its signal on to the upload: close the connection to stop it
  const onAbort = () => void client.close();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const summary = await client.measure({ pings: 1, interval: 0, timeout: opts.timeoutMs, throughputBytes: opts.throughputBytes });
    return summary.throughputMBps;
  } catch (err) {
    hooks.onWarning?.(`throughput not measured: ${opts.signal.aborted ? 'interrupted' : err instanceof Error ? err.message : String(err)}`);
    return 0;
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}
