/**
 * What a workload gets to work with, and the one way it talks to a system: start the system's
 * server worker, run client workers against it, stop it, learn both sides' peak RSS.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BenchConfig } from '../config.ts';
import type { CertFiles } from '../certs.ts';
import type { TestFile } from '../files.ts';
import { HOST } from '../messages.ts';
import type { ClientTask, EventLoopDelay, ServerConfig, TaskResult, WarmUp } from '../messages.ts';
import type { ReadyInfo } from '../proc.ts';
import type { Scope } from '../proc.ts';
import type { Recorder, WorkloadId } from '../results.ts';
import type { SystemDef } from '../systems.ts';

export const USER = 'bench';
export const PASSWORD = 'secret';

/**
 * The untimed passes of `small` and `tree` after their fresh pass: two more, so that the measured
 * pass is the fourth over the same files (bench/src/warmup.ts, in the "fourteenth" section of
 * bench/README.md, found fileshare's client and server near their steady cost per file from the
 * third pass on), bounded to 30 s so that FTP's slow passes (passive-port polling, about 20
 * files/s) get none.
 */
export const WARM_UP: WarmUp = { passes: 2, maxSeconds: 30 };
/** What the warm-up passes append to remote names and download folders (workers/tasks.ts). */
export const WARM_UP_SUFFIXES: readonly string[] = Array.from({ length: WARM_UP.passes }, (_, k) => `-w${k + 1}`);

export interface BenchContext {
  readonly config: BenchConfig;
  readonly recorder: Recorder;
  readonly scope: Scope;
  /** This workload's temporary folder (removed when the workload ends); `tmp/client` exists. */
  readonly tmp: string;
  /** Self-signed certificate for TLS systems, when any is selected. */
  readonly certs: CertFiles | undefined;
  /** Passive port range for FTP. */
  readonly pasvRange: readonly [number, number];
  /** The shared random file of `config.size` bytes (made on first use, kept for the whole run). */
  bigFile(): Promise<TestFile>;
  log(line: string): void;
}

export interface Workload {
  readonly id: WorkloadId;
  readonly title: string;
  /** Upper bound on the whole workload; past it every worker is killed and an error recorded. */
  budgetMs(config: BenchConfig, systems: number): number;
  run(ctx: BenchContext, systems: readonly SystemDef[]): Promise<void>;
}

export interface ClientOutcome {
  readonly results: readonly TaskResult[];
  readonly peakRssKiB: number;
  /** The client's RSS when it started, KiB (0 when it did not say). */
  readonly startRssKiB: number;
}

export interface Session {
  /** The folder the bench user sees as `/`. */
  readonly dataDir: string;
  /** What the server said when it was ready (its hints: verification time, cores, ...). */
  readonly ready: ReadyInfo;
  /** Run tasks in a fresh client process; rejects if the worker fails or overruns `timeoutMs`. */
  runClient(tasks: readonly ClientTask[], timeoutMs: number): Promise<ClientOutcome>;
}

export interface SessionOutcome<T> {
  readonly value: T;
  readonly serverPeakRssKiB: number;
  readonly serverRssAtReadyKiB: number;
  /** The server's event-loop delay over the session, when its loop does the serving. */
  readonly serverEventLoop?: EventLoopDelay;
}

/** How long a server gets to start, and to stop once asked. */
const SERVER_START_MS = 20_000;
const SERVER_STOP_MS = 10_000;

/**
 * Start `system`'s server on a fresh root folder, run `body` against it, stop the server.
 * The server worker's own time limit covers the whole session (`sessionMs`).
 */
export async function withServer<T>(
  ctx: BenchContext,
  system: SystemDef,
  sessionMs: number,
  body: (session: Session) => Promise<T>,
  extra: { readonly resumeKey?: string; readonly s3?: ServerConfig['s3'] } = {},
): Promise<SessionOutcome<T>> {
  const root = path.join(ctx.tmp, `${system.id}-root`);
  await mkdir(root, { recursive: true });
  if (system.tls && ctx.certs === undefined) throw new Error('TLS system without certificates');
  const server = ctx.scope.spawn(
    system.worker,
    {
      role: 'server',
      server: {
        root,
        user: USER,
        password: PASSWORD,
        maxClients: Math.max(ctx.config.clients, ctx.config.smallConnections, ctx.config.loginStorm) + 16,
        ...(system.tls && ctx.certs ? { tls: ctx.certs } : {}),
        ...(system.worker === 'ftp' ? { pasvRange: ctx.pasvRange } : {}),
        ...extra,
      },
    },
    { timeoutMs: sessionMs + SERVER_START_MS + SERVER_STOP_MS, verbose: ctx.config.verbose },
  );
  const began = performance.now();
  server.done.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
  let value: T;
  let readyRss = 0;
  try {
    const ready = await Promise.race([
      server.ready,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${system.id} server did not start in ${SERVER_START_MS / 1000} s`)), SERVER_START_MS).unref(),
      ),
    ]);
    readyRss = ready.rssKiB;
    if (ctx.config.verbose) ctx.log(`  ${system.id} server ready in ${(performance.now() - began).toFixed(0)} ms`);
    const session: Session = {
      dataDir: ready.dataDir,
      ready,
      runClient: async (tasks, timeoutMs) => {
        const client = ctx.scope.spawn(
          system.worker,
          {
            role: 'client',
            client: {
              host: HOST,
              port: ready.port,
              user: USER,
              password: PASSWORD,
              ...(system.tls && ctx.certs ? { tlsCa: ctx.certs.cert } : {}),
              ...(ready.hints ? { hints: ready.hints } : {}),
              ...(server.pid > 0 ? { serverPid: server.pid } : {}),
              tasks,
            },
          },
          { timeoutMs, verbose: ctx.config.verbose },
        );
        const outcome = await client.done;
        if (ctx.config.verbose) ctx.log(`  ${system.id} client done in ${(outcome.wallSeconds * 1000).toFixed(0)} ms`);
        return { results: outcome.results, peakRssKiB: outcome.peakRssKiB, startRssKiB: outcome.startRssKiB ?? 0 };
      },
    };
    value = await body(session);
  } catch (error) {
    server.kill('session failed');
    await server.done.catch(() => {});
    throw error;
  }
  server.stop();
  const outcome = await server.done;
  if (ctx.config.verbose) ctx.log(`  ${system.id} session took ${(performance.now() - began).toFixed(0)} ms`);
  return {
    value,
    serverPeakRssKiB: outcome.peakRssKiB,
    serverRssAtReadyKiB: readyRss,
    ...(outcome.eventLoop !== undefined ? { serverEventLoop: outcome.eventLoop } : {}),
  };
}

/** A transfer's time limit: 30 s plus the time at a pessimistic 20 MB/s. */
export function transferTimeoutMs(bytes: number): number {
  return 30_000 + (bytes / 20e6) * 1000;
}

export const MiB = 1024 * 1024;
export const kibToMiB = (kib: number): number => kib / 1024;
