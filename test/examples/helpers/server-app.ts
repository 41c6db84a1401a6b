/**
 * Run the example apps as real child processes in tests: spawn through scripts/run.mjs (as
 * `npm start` does), wait for output lines with a timeout, and stop every process by PID.
 *
 * Each app runs in its own process group (`detached`), because scripts/run.mjs starts the app as
 * a grandchild: signals go to run.mjs (which forwards them, like in real use), and the last
 * resort `SIGKILL` goes to the whole group, so nothing outlives the test run, even if a test fails.
 *
 * @example
 * ```ts
 * const app = await startServerApp({ cwd: dir });
 * try {
 *   await app.waitFor(/login ok alice/);
 * } finally {
 *   await app.stop();
 * }
 * ```
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The runner `npm start` uses. */
export const RUN_SCRIPT = path.join(REPO_ROOT, 'scripts', 'run.mjs');
/** The server app's entry point, relative to the repository root. */
export const SERVER_ENTRY = 'examples/server/src/main.ts';
/** Default limit of every wait. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned app. */
export interface AppProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as received. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /**
   * Resolve with the first match of `pattern` in the output (now or later), searching from
   * character `from` (take `output().length` before an action to wait for its own line).
   * Rejects after `timeoutMs` (default 15 s), or when the process exits without printing it;
   * the error shows the output.
   */
  waitFor(pattern: RegExp, options?: { timeoutMs?: number; from?: number }): Promise<RegExpMatchArray>;
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Wait for the exit without sending anything; rejects after `timeoutMs` (default 15 s). */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /**
   * Send `signal` (SIGTERM by default) to the PID and wait for the exit; after `timeoutMs`,
   * SIGKILL the whole process group. Safe to call when it already exited.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
}

/** Options of {@link spawnApp}. */
export interface SpawnAppOptions {
  /** Working directory (relative defaults such as ./users.json resolve here). */
  cwd: string;
  /** Entry point relative to the repository root. @default the server app */
  entry?: string;
  /** Extra environment (NO_COLOR=1 is always set, so output has no escape codes). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; without it stdin is closed at once. */
  input?: string;
}

const running = new Set<ChildProcess>();
// A crashed test run must not leave servers behind.
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Spawn an example app through scripts/run.mjs. */
export function spawnApp(args: string[], options: SpawnAppOptions): AppProcess {
  const child = spawn(process.execPath, [RUN_SCRIPT, options.entry ?? SERVER_ENTRY, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let all = '';
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    all += s;
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    err += s;
    all += s;
    notify();
  });
  child.stdin!.on('error', () => {}); // the app may exit before reading its input
  child.stdin!.end(options.input ?? '');
  let done = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on('close', (code, signal) => {
      done = true;
      running.delete(child);
      resolve({ code, signal });
      notify();
    });
  });

  const waitFor = (pattern: RegExp, { timeoutMs = DEFAULT_TIMEOUT_MS, from = 0 } = {}) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = all.slice(from).match(pattern);
        if (match) finish(() => resolve(match));
        else if (done) finish(() => reject(new Error(`the app exited without printing ${pattern}; output:\n${all}`)));
      };
      const timeout = () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; output:\n${all}`));
      const timer = setTimeout(() => finish(timeout), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      waiters.add(check);
      check();
    });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExitStatus> => {
    if (!done && child.pid !== undefined) {
      try {
        process.kill(child.pid, signal);
      } catch {
        // exited meanwhile
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const result = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (result !== 'late') return result;
    killGroup(child, 'SIGKILL');
    return exited;
  };

  const waitForExit = async (timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExitStatus> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the app did not exit within ${timeoutMs} ms; output:\n${all}`)), timeoutMs);
    });
    try {
      return await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  return { child, output: () => all, stdout: () => out, stderr: () => err, waitFor, exited, waitForExit, stop };
}

/** Options of {@link runApp}. */
export interface RunAppOptions extends SpawnAppOptions {
  /** Kill it (and fail) after this long. @default 15000 */
  timeoutMs?: number;
}

/** The result of a one-shot command. */
export interface RunResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** Run a one-shot command (`user add`, `cert`...) to completion. */
export async function runApp(args: string[], options: RunAppOptions): Promise<RunResult> {
  const app = spawnApp(args, options);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS)));
  const result = await Promise.race([app.exited, late]);
  clearTimeout(timer);
  if (result === 'late') {
    await app.stop('SIGKILL', 1000);
    throw new Error(`${args.join(' ')} did not finish in time; output:\n${app.output()}`);
  }
  return { ...result, stdout: app.stdout(), stderr: app.stderr() };
}

/** Options of {@link startServerApp}. */
export interface StartServerAppOptions {
  /** Working directory; a fresh temporary folder by default (see `cwd` on the result). */
  cwd?: string;
  /** Flags after `--host 127.0.0.1 --port 0` (later flags win). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Entry point relative to the repository root. @default the server app */
  entry?: string;
  /** How long to wait for the `listening on` line. @default 15000 */
  timeoutMs?: number;
}

/** A running server app. */
export interface ServerApp extends AppProcess {
  /** The port it listens on (parsed from `listening on HOST:PORT`). */
  port: number;
  /** Its working directory. */
  cwd: string;
}

/** Start the server app on 127.0.0.1 and a free port, and wait until it listens. */
export async function startServerApp(options: StartServerAppOptions = {}): Promise<ServerApp> {
  const cwd = options.cwd ?? (await makeTempDir());
  const app = spawnApp(['--host', '127.0.0.1', '--port', '0', ...(options.args ?? [])], { cwd, env: options.env, entry: options.entry });
  try {
    const match = await app.waitFor(/listening on (?:\[[^\]]+\]|[^\s:]+):(\d+)/, { timeoutMs: options.timeoutMs });
    return Object.assign(app, { port: Number(match[1]), cwd });
  } catch (err) {
    await app.stop('SIGKILL', 2000);
    throw err;
  }
}

/** A fresh temporary folder (remove it with {@link removeDir}). */
export function makeTempDir(prefix = 'fileshare-app-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Remove a folder and everything in it. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Poll `condition` every 50 ms until it is truthy; reject after `timeoutMs` with `what`. */
export async function waitUntil<T>(condition: () => T | Promise<T>, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
