/**
 * Ping round trips, p50 and p99 in µs over `pings` sequential pings: on an idle connection, and
 * while big-file transfers (download and upload alternating) run back to back — on the same
 * connection when the system multiplexes, otherwise on a second connection (raw TCP: a separate echo
 * connection; FTP: NOOP on a second client, since basic-ftp runs one command at a time).
 */
import path from 'node:path';
import { place, removeFiles } from '../files.ts';
import type { PingResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { transferTimeoutMs, withServer } from './context.ts';
import type { Workload } from './context.ts';

const base = { workload: 'ping', unit: 'µs', better: 'lower' } as const;
export const IDLE_P50: Metric = { ...base, name: 'idle p50 µs', target: [{ vs: 'raw', bound: ['<=', 1.5] }] };
export const IDLE_P99: Metric = { ...base, name: 'idle p99 µs' };
export const LOAD_P50: Metric = { ...base, name: 'under load p50 µs' };
export const LOAD_P99: Metric = { ...base, name: 'under load p99 µs', target: [{ bound: ['<=', 2_000] }] };
/** Pings of a second client (its own connection) while the first one moves big files. */
export const SECOND_P50: Metric = { ...base, name: 'under load, 2nd client p50 µs' };
export const SECOND_P99: Metric = { ...base, name: 'under load, 2nd client p99 µs', target: [{ bound: ['<=', 2_000] }] };
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
                  {
                    kind: 'pingUnderLoad',
                    count: pings,
                    local: big.path,
                    remote: '/big.bin',
                    uploadRemote: '/load-up.bin',
                    downloadLocal,
                    maxTransfers: 1000,
                    maxSeconds: loadSeconds,
                    secondClient: true,
                  },
                ],
                clientTimeout,
              );
              const [idle, load, second] = results as PingResult[];
              if (idle === undefined || load === undefined || second === undefined) throw new Error('ping: missing results');
              if (second.n < Math.min(pings, 20)) {
                ctx.recorder.error('ping', system.id, `2nd client under load: only ${second.n} pings fell inside a transfer`);
              } else {
                const secondNotes = { pings: second.n, transfers: second.transfers };
                ctx.recorder.add(SECOND_P50, system.id, second.p50, secondNotes);
                ctx.recorder.add(SECOND_P99, system.id, second.p99, secondNotes);
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
