/**
 * The frame every worker process runs in: read the config, play the server or client role, report
 * one JSON result line, exit. A system (raw TCP, FTP, fileshare) plugs in as a {@link SystemWorker}:
 * how to start its server, and a {@link Driver} for its client. The client tasks themselves are
 * system-independent (tasks.ts).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MESSAGE_PREFIX } from '../messages.ts';
import type { ClientConfig, ServerConfig, WorkerConfig, WorkerMessage } from '../messages.ts';
import { runTask } from './tasks.ts';

/** A running server, as its worker sees it. */
export interface RunningServer {
  readonly port: number;
  /** The folder on disk the bench user sees as `/` (the harness puts download sources there). */
  readonly dataDir: string;
  /** What clients need beyond host and port (a private-key file, ...): handed to them as `ClientConfig.hints`. */
  readonly hints?: Readonly<Record<string, string>>;
  /**
   * False when the serving is not done on this worker's event loop (sftp: sshd, a C server, does
   * it), so its event-loop delay means nothing and is not reported.
   */
  readonly reportsEventLoop?: boolean;
  close(): Promise<void>;
}

/** What a transfer reports. */
export interface Moved {
  readonly bytes: number;
  /** SHA-256 as reported by the system, if it reports one. */
  readonly sha256?: string;
}

/** One logged-in client connection of a system. */
export interface Connection {
  upload(local: string, remote: string): Promise<Moved>;
  download(remote: string, local: string): Promise<Moved>;
  /** One round trip of the system's cheapest request. */
  ping(): Promise<void>;
  /**
   * Get ready for the folder calls before their clock starts, where the system needs a step of its
   * own for that (sftp: the OpenSSH client's master connection that `sftp -r` then rides on).
   */
  prepareTree?(): Promise<void>;
  /** Upload a whole folder with the system's own folder call (sftp -r, uploadFromDir, uploadDir). */
  uploadTree?(local: string, remote: string): Promise<void>;
  /** Download a whole folder with the system's own folder call. */
  downloadTree?(remote: string, local: string): Promise<void>;
  /** Sync `local` up to `remote` (only what changed), where the system has such a call; resolves to the files it moved. */
  syncTree?(local: string, remote: string): Promise<number>;
  close(): Promise<void>;
}

/** How a harness task drives one system's client. */
export interface Driver {
  /** Connect and log in. */
  connect(config: ClientConfig): Promise<Connection>;
  /** Requests one connection may have in flight at once (1 for a strictly sequential API). */
  readonly maxInFlight: number;
  /**
   * Whether `ping()` may run while a transfer runs on the same connection. When false, the
   * ping-under-load task opens a second connection for the pings.
   */
  readonly pingDuringTransfer: boolean;
  /** Connect and log in with a password; resolve to the session-resumption token (JSON), if the system has them. */
  loginForToken?(config: ClientConfig): Promise<string>;
  /** Connect and log in with a token from `loginForToken`. */
  resumeWith?(config: ClientConfig, token: string): Promise<Connection>;
}

/** A system's two halves. Each is loaded lazily so one role never loads the other's packages. */
export interface SystemWorker {
  server(config: ServerConfig): Promise<RunningServer>;
  client(): Promise<Driver>;
}

function emit(message: WorkerMessage): void {
  // stdout on a pipe is synchronous on Linux, so this line is out before process.exit().
  process.stdout.write(MESSAGE_PREFIX + JSON.stringify(message) + '\n');
}

/**
 * This process's peak RSS, KiB: VmHWM from /proc/self/status where there is one.
 * Not `process.resourceUsage().maxRSS` on Linux: getrusage's ru_maxrss survives execve, so a
 * spawned child starts with its parent's peak (the harness's ~90 MB) and would report that.
 */
function maxRssKiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS;
}

function stdinEnded(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on('data', () => {});
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.stdin.once('error', () => resolve());
    process.stdin.resume();
  });
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function serve(system: SystemWorker, config: ServerConfig): Promise<void> {
  const server = await system.server(config);
  // The server's event-loop delay from `ready` to stop: how long any request could have waited
  // for this process's loop, whatever it was doing (moving data, checking passwords).
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  emit({
    type: 'ready',
    port: server.port,
    dataDir: server.dataDir,
    rssKiB: Math.round(process.memoryUsage.rss() / 1024),
    ...(server.hints ? { hints: server.hints } : {}),
  });
  // The harness ends our stdin to stop us; it also ends if the harness dies, so we never linger.
  await stdinEnded();
  await within(
    server.close().catch(() => {}),
    5_000,
  );
  delay.disable();
  const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
  emit({
    type: 'result',
    results: [],
    maxRssKiB: maxRssKiB(),
    ...(server.reportsEventLoop !== false && delay.count > 0
      ? { eventLoop: { p50Ms: ms(delay.percentile(50)), p99Ms: ms(delay.percentile(99)), maxMs: ms(delay.max), samples: delay.count } }
      : {}),
  });
}

async function client(system: SystemWorker, config: ClientConfig): Promise<void> {
  const startRssKiB = Math.round(process.memoryUsage.rss() / 1024);
  const driver = await system.client();
  const results = [];
  for (const task of config.tasks) results.push(await runTask(driver, config, task));
  emit({ type: 'result', results, maxRssKiB: maxRssKiB(), startRssKiB });
}

/** Entry point of every worker file: `runSystemWorker(mySystem)`. */
export function runSystemWorker(system: SystemWorker): void {
  const run = async (): Promise<void> => {
    const arg = process.argv[2];
    if (arg === undefined) throw new Error('worker: missing JSON config in argv[2]');
    // a large config comes as `@<file>` (proc.ts: one argument may not pass 128 KiB)
    const config = JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg) as WorkerConfig;
    if (config.role === 'server') await serve(system, config.server);
    else await client(system, config.client);
  };
  run().then(
    () => process.exit(0),
    (error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      emit({ type: 'error', message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
      process.exit(1);
    },
  );
}
