/**
 * Worker processes, seen from the harness: spawn one, read its protocol lines, sample its peak RSS,
 * stop it, and kill it (by PID) when it overruns its time limit. Every process spawned through a
 * {@link Scope} can be killed at once when a workload times out.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MESSAGE_PREFIX } from './messages.ts';
import type { EventLoopDelay, TaskResult, WorkerConfig, WorkerMessage } from './messages.ts';
import { buildWorkers, repoRoot } from './build.ts';

/** Worker files by name (`raw` → bench/src/workers/raw.ts). */
export const workerSource = (name: string): string => path.join(repoRoot, 'bench', 'src', 'workers', `${name}.ts`);

let runnable: Map<string, string> | undefined;
let useTsx = false;

/**
 * Prepare the worker entry files once per run: transpile them to plain JS (see build.ts), or with
 * `tsx: true` run them through the tsx loader as they are.
 */
export async function prepareWorkers(names: readonly string[], options: { tsx: boolean }): Promise<void> {
  useTsx = options.tsx;
  if (!useTsx) runnable = await buildWorkers(names.map(workerSource));
}

/**
 * `FILESHARE_BENCH_CPU_PROF=<dir>`: every worker writes a V8 CPU profile into `<dir>/<worker>-<n>`
 * (Node 20 refuses `--cpu-prof` in NODE_OPTIONS, and a profile of the harness is not wanted).
 */
const cpuProfileDir = process.env.FILESHARE_BENCH_CPU_PROF;
let profiled = 0;

function command(name: string): string[] {
  const source = workerSource(name);
  const profile = cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProfileDir, `${name}-${++profiled}`)}`] : [];
  if (useTsx) return [...profile, '--import', 'tsx', source];
  const js = runnable?.get(source);
  if (js === undefined) throw new Error(`worker ${name} was not prepared`);
  return [...profile, js];
}

/** Peak resident set of a live process from /proc (VmHWM), KiB; 0 where /proc is unavailable. */
export function procPeakRssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export interface WorkerOutcome {
  readonly results: readonly TaskResult[];
  /** The larger of the peak the worker reported at its end and the VmHWM the harness sampled, KiB. */
  readonly peakRssKiB: number;
  /** A client's RSS at its start, KiB, when it reported one. */
  readonly startRssKiB?: number;
  /** A server's event-loop delay, when it reported one. */
  readonly eventLoop?: EventLoopDelay;
  readonly wallSeconds: number;
}

export interface ReadyInfo {
  readonly port: number;
  readonly dataDir: string;
  readonly rssKiB: number;
  /** What a client of this server needs beyond host and port (see `RunningServer.hints`). */
  readonly hints?: Readonly<Record<string, string>>;
}

/** A spawned worker. `ready` settles for servers; `done` settles when the process is gone. */
export interface WorkerHandle {
  readonly name: string;
  readonly pid: number;
  readonly ready: Promise<ReadyInfo>;
  readonly done: Promise<WorkerOutcome>;
  /** Ask a server to stop (ends its stdin); it reports and exits. */
  stop(): void;
  /** SIGKILL now. */
  kill(reason: string): void;
}

export interface SpawnOptions {
  /** Kill the worker after this long and reject `done` with a timeout error. */
  readonly timeoutMs: number;
  /** Forward the worker's stderr and non-protocol stdout to ours. */
  readonly verbose?: boolean;
}

/** A set of workers that can be killed together. */
export class Scope {
  private readonly live = new Set<WorkerHandle>();

  spawn(name: string, config: WorkerConfig, options: SpawnOptions): WorkerHandle {
    const handle = spawnWorker(name, config, options);
    this.live.add(handle);
    handle.done.then(
      () => this.live.delete(handle),
      () => this.live.delete(handle),
    );
    return handle;
  }

  /** Kill every worker still running (by PID); returns how many there were. */
  killAll(reason: string): number {
    const n = this.live.size;
    for (const handle of this.live) handle.kill(reason);
    return n;
  }
}

/**
 * Linux refuses a single argument over 128 KiB (`MAX_ARG_STRLEN`: spawn fails with E2BIG), which
 * a list of a thousand file paths per task passes: such a config goes in a file instead, named as
 * `@<path>` in argv (workers/runtime.ts reads it), removed once the worker is gone.
 */
const MAX_INLINE_CONFIG = 64 * 1024;

function configArgument(config: WorkerConfig): { arg: string; cleanup: () => void } {
  const json = JSON.stringify(config);
  if (Buffer.byteLength(json) <= MAX_INLINE_CONFIG) return { arg: json, cleanup: () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'fileshare-bench-config-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, json);
  return { arg: `@${file}`, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function spawnWorker(name: string, config: WorkerConfig, options: SpawnOptions): WorkerHandle {
  const started = performance.now();
  const { arg, cleanup } = configArgument(config);
  const child: ChildProcess = spawn(process.execPath, [...command(name), arg], {
    cwd: path.join(repoRoot, 'bench'),
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const pid = child.pid ?? -1;
  let sampledKiB = 0;
  const sample = (): void => {
    if (pid > 0) sampledKiB = Math.max(sampledKiB, procPeakRssKiB(pid));
  };
  const sampler = setInterval(sample, 100);
  let stderrTail = '';
  let killedFor: string | undefined;
  let result: WorkerMessage | undefined;

  let resolveReady!: (info: ReadyInfo) => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<ReadyInfo>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {}); // client workers never become ready; the error surfaces through `done`

  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    if (options.verbose) process.stderr.write(`[${name}:${pid}] ${text}`);
    stderrTail = (stderrTail + text).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (!line.startsWith(MESSAGE_PREFIX)) {
      if (options.verbose) process.stderr.write(`[${name}:${pid}] ${line}\n`);
      return;
    }
    sample();
    const message = JSON.parse(line.slice(MESSAGE_PREFIX.length)) as WorkerMessage;
    if (message.type === 'ready') resolveReady(message);
    else result = message;
  });
  child.stdin!.on('error', () => {}); // EPIPE when the worker is already gone

  const timer = setTimeout(() => handle.kill(`timed out after ${Math.round(options.timeoutMs / 1000)} s`), options.timeoutMs);

  const done = new Promise<WorkerOutcome>((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      clearInterval(sampler);
      cleanup();
      rejectReady(error);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(sampler);
      cleanup();
      const wallSeconds = (performance.now() - started) / 1000;
      const fail = (why: string): void => {
        const error = new Error(`${name} worker: ${why}`);
        rejectReady(error);
        reject(error);
      };
      if (killedFor !== undefined) return fail(`killed: ${killedFor}`);
      if (result?.type === 'error') return fail(result.message);
      if (result?.type !== 'result') {
        const tail = stderrTail.trim().split('\n').slice(-3).join(' | ');
        return fail(`exited (code ${code}, signal ${signal}) without a result${tail ? `: ${tail}` : ''}`);
      }
      rejectReady(new Error(`${name} worker exited before it was ready`));
      resolve({
        results: result.results,
        peakRssKiB: Math.max(sampledKiB, result.maxRssKiB),
        ...(result.startRssKiB !== undefined ? { startRssKiB: result.startRssKiB } : {}),
        ...(result.eventLoop !== undefined ? { eventLoop: result.eventLoop } : {}),
        wallSeconds,
      });
    });
  });

  const handle: WorkerHandle = {
    name,
    pid,
    ready,
    done,
    stop: () => child.stdin!.end(),
    kill: (reason) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killedFor ??= reason;
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    },
  };
  return handle;
}
