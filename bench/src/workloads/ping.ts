/**
 * Ping round trips, p50 and p99 in µs over `pings` sequential pings: on an idle connection; while
 * big-file transfers (download and upload alternating) run back to back, on the same connection
 * when the system multiplexes, otherwise on a second connection of the same process (raw TCP: a
 * separate echo connection; FTP: NOOP on a second client, since basic-ftp runs one command at a
 * time); and from a second client in a process of its own while a first one moves the files, each
 * of its pings paired with a round trip to a bare echo socket in the harness (the bystander).
 */
import net from 'node:net';
import path from 'node:path';
import { place, removeFiles } from '../files.ts';
import { HOST } from '../messages.ts';
import type { EventLoopDelay, PingResult, PingSeriesResult, RoundTrips, TransferLoopResult } from '../messages.ts';
import { latency } from '../stats.ts';
import type { Latency } from '../stats.ts';
import type { Metric } from '../results.ts';
import { transferTimeoutMs, withServer } from './context.ts';
import type { Session, Workload } from './context.ts';
import { watchHarnessLoop } from './bystander.ts';

const base = { workload: 'ping', unit: 'µs', better: 'lower' } as const;
export const IDLE_P50: Metric = { ...base, name: 'idle p50 µs', target: [{ vs: 'raw', bound: ['<=', 1.5] }] };
export const IDLE_P99: Metric = { ...base, name: 'idle p99 µs' };
export const LOAD_P50: Metric = { ...base, name: 'under load p50 µs' };
export const LOAD_P99: Metric = { ...base, name: 'under load p99 µs', target: [{ bound: ['<=', 2_000] }] };
/**
 * Pings of a second client, in a process of its own, while the first client moves big files: what
 * another user of the server sees.
 */
export const SECOND_P50: Metric = { ...base, name: 'under load, 2nd client p50 µs' };
export const SECOND_P99: Metric = { ...base, name: 'under load, 2nd client p99 µs', target: [{ bound: ['<=', 2_000] }] };
/**
 * Round trips to a bare echo socket in the bench harness (an otherwise idle process), taken by the
 * 2nd client's process right after each of its pings: what this machine gives any process pair
 * under the same load, the floor under the 2nd client's figure.
 */
export const BYSTANDER_P99: Metric = { ...base, name: 'under load, bystander echo p99 µs' };
/** The bench harness's own event-loop delay during that load: the floor under any loop delay here. */
export const BYSTANDER_ELD: Metric = {
  workload: 'ping',
  name: 'bystander loop delay p99 ms',
  unit: 'ms',
  better: 'lower',
};
/** The server's event-loop delay over the whole ping session (idle pings, then both loaded series). */
export const SERVER_ELD: Metric = {
  workload: 'ping',
  name: 'server loop delay p99 ms',
  unit: 'ms',
  better: 'lower',
  target: [{ bound: ['<=', 5] }],
};

export const ping: Workload = {
  id: 'ping',
  title: 'Ping round trip',
  budgetMs: (config, systems) => config.runs * systems * (2 * (config.loadSeconds * 1000 + transferTimeoutMs(config.size)) + 120_000),
  async run(ctx, systems) {
    const big = await ctx.bigFile();
    const { pings, loadSeconds } = ctx.config;
    const downloadLocal = path.join(ctx.tmp, 'client', 'load-down.bin');
    const clientTimeout = 30_000 + pings * 40 + 2 * (loadSeconds * 1000 + transferTimeoutMs(big.size));
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`ping ${system.id} run ${run}/${ctx.config.runs}`);
        try {
          const outcome = await withServer(ctx, system, clientTimeout, async (session) => {
            await place(big.path, path.join(session.dataDir, 'big.bin'));
            try {
              const { results } = await session.runClient(
                [
                  { kind: 'ping', count: pings },
                  {
                    kind: 'pingUnderLoad',
                    count: pings,
                    local: big.path,
                    remote: '/big.bin',
                    uploadRemote: '/load-up.bin',
                    downloadLocal,
                    maxTransfers: 1000,
                    maxSeconds: loadSeconds,
                  },
                ],
                clientTimeout,
              );
              const [idle, load] = results as PingResult[];
              if (idle === undefined || load === undefined) throw new Error('ping: missing results');
              const second = await secondClientUnderLoad(session, {
                local: big.path,
                downloadLocal,
                // 2 pings per recorded one of the other series, 2.5 ms apart: long enough to span
                // a few transfers, short enough that 5 systems do not add minutes
                maxPings: pings * 2,
                loadSeconds: Math.min(loadSeconds, Math.max(5, pings * 0.005)),
                timeoutMs: clientTimeout,
              });
              if (second.pings.n < Math.min(pings, 20)) {
                ctx.recorder.error('ping', system.id, `2nd client under load: only ${second.pings.n} pings fell inside a transfer`);
              } else {
                const secondNotes = { pings: second.pings.n, transfers: second.transfers, process: 'own' };
                ctx.recorder.add(SECOND_P50, system.id, second.pings.p50, secondNotes);
                ctx.recorder.add(SECOND_P99, system.id, second.pings.p99, secondNotes);
                ctx.recorder.add(BYSTANDER_P99, system.id, second.echoes.p99, { pings: second.echoes.n, p50: second.echoes.p50 });
                ctx.recorder.add(BYSTANDER_ELD, system.id, second.harnessLoop.p99Ms, { ...second.harnessLoop });
              }
              ctx.recorder.add(IDLE_P50, system.id, idle.p50, { pings: idle.n });
              ctx.recorder.add(IDLE_P99, system.id, idle.p99, { pings: idle.n });
              const notes = {
                pings: load.n,
                sameConnection: load.sameConnection,
                transfers: load.transfers,
                transferBytes: load.transferBytes,
              };
              if (load.n < Math.min(pings, 20)) {
                ctx.recorder.error('ping', system.id, `under load: only ${load.n} pings fell inside a transfer`);
              } else {
                ctx.recorder.add(LOAD_P50, system.id, load.p50, notes);
                ctx.recorder.add(LOAD_P99, system.id, load.p99, notes);
              }
            } finally {
              await removeFiles(downloadLocal, path.join(session.dataDir, 'load-up.bin'));
            }
          });
          if (outcome.serverEventLoop !== undefined) {
            ctx.recorder.add(SERVER_ELD, system.id, outcome.serverEventLoop.p99Ms, { ...outcome.serverEventLoop });
          }
        } catch (error) {
          ctx.recorder.error('ping', system.id, error);
        }
      }
    }
  },
};

interface SecondClientOutcome {
  readonly pings: Latency;
  readonly echoes: Latency;
  readonly transfers: number;
  readonly harnessLoop: EventLoopDelay;
}

/**
 * One client process moves big files back to back while a second one pings the server, each ping
 * followed by a round trip to a bare echo socket here in the harness; only the pings (and echoes)
 * that began and ended inside one transfer count. The harness's own event-loop delay is taken over
 * the same stretch.
 */
async function secondClientUnderLoad(
  session: Session,
  options: {
    readonly local: string;
    readonly downloadLocal: string;
    readonly maxPings: number;
    readonly loadSeconds: number;
    readonly timeoutMs: number;
  },
): Promise<SecondClientOutcome> {
  const echo = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, HOST, resolve));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const harnessLoop = watchHarnessLoop();
  try {
    const [mover, pinger] = await Promise.all([
      session.runClient(
        [
          {
            kind: 'transferLoop',
            local: options.local,
            remote: '/big.bin',
            uploadRemote: '/load-up.bin',
            downloadLocal: options.downloadLocal,
            maxTransfers: 1000,
            maxSeconds: options.loadSeconds,
          },
        ],
        options.timeoutMs,
      ),
      session.runClient([{ kind: 'pingSeries', maxPings: options.maxPings, maxSeconds: options.loadSeconds, echoPort }], options.timeoutMs),
    ]);
    const loopDelay = harnessLoop.stop();
    const loop = mover.results[0] as TransferLoopResult | undefined;
    const series = pinger.results[0] as PingSeriesResult | undefined;
    if (loop === undefined || series === undefined) throw new Error('ping: missing 2nd-client results');
    const inside = (from: number, to: number): boolean => loop.spans.some(([start, end]) => from >= start && to <= end);
    const roundTrips = (series: RoundTrips): Latency =>
      latency(
        series.micros.filter((us, i) => {
          const from = series.origin + series.startsCs[i]! / 100;
          return inside(from, from + us / 1000);
        }),
      );
    return {
      pings: roundTrips(series.pings),
      echoes: roundTrips(series.echoes),
      transfers: loop.spans.length,
      harnessLoop: loopDelay,
    };
  } finally {
    harnessLoop.stop();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  }
}
