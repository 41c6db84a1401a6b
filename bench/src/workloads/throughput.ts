/**
 * Throughput: upload then download of one big random file (default 1 GiB), each in its own timed
 * call on an established connection (connection set-up and login excluded). Every received copy is
 * checked by SHA-256 from disk after the timed part; a bad copy records an error, not a figure.
 * MB = 10^6 bytes.
 */
import path from 'node:path';
import { removeFiles, place, verifyCopy } from '../files.ts';
import type { TransferResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { mbPerSecond } from '../stats.ts';
import { transferTimeoutMs, withServer } from './context.ts';
import type { Workload } from './context.ts';

export const UPLOAD: Metric = {
  workload: 'throughput',
  name: 'upload MB/s',
  unit: 'MB/s',
  better: 'higher',
  target: [{ vs: 'pipe', bound: ['>=', 0.85] }],
};
export const DOWNLOAD: Metric = { ...UPLOAD, name: 'download MB/s' };
/** The server's event-loop delay over the session (one upload, then one download). */
export const SERVER_ELD: Metric = {
  workload: 'throughput',
  name: 'server loop delay p99 ms',
  unit: 'ms',
  better: 'lower',
  target: [{ bound: ['<=', 5] }],
};

export const throughput: Workload = {
  id: 'throughput',
  title: 'Throughput of one big file',
  budgetMs: (config, systems) => config.runs * systems * (2 * transferTimeoutMs(config.size) + 60_000),
  async run(ctx, systems) {
    const big = await ctx.bigFile();
    const received = path.join(ctx.tmp, 'client', 'down.bin');
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`throughput ${system.id} run ${run}/${ctx.config.runs}`);
        try {
          const outcome = await withServer(ctx, system, 2 * transferTimeoutMs(big.size), async (session) => {
            const uploaded = path.join(session.dataDir, 'up.bin');
            await place(big.path, path.join(session.dataDir, 'big.bin'));
            try {
              const { results } = await session.runClient(
                [
                  { kind: 'upload', local: big.path, remote: '/up.bin' },
                  { kind: 'download', remote: '/big.bin', local: received },
                ],
                2 * transferTimeoutMs(big.size),
              );
              const [up, down] = results as TransferResult[];
              for (const [metric, result, copy] of [
                [UPLOAD, up, uploaded],
                [DOWNLOAD, down, received],
              ] as const) {
                if (result === undefined) throw new Error(`${metric.name}: no result`);
                const bad =
                  (await verifyCopy(copy, big)) ??
                  (result.sha256 !== undefined && result.sha256 !== big.sha256
                    ? `${metric.name}: the system reported a wrong SHA-256`
                    : undefined);
                if (bad !== undefined) ctx.recorder.error('throughput', system.id, bad);
                else ctx.recorder.add(metric, system.id, mbPerSecond(result.bytes, result.seconds));
              }
            } finally {
              await removeFiles(uploaded, received);
            }
          });
          if (outcome.serverEventLoop !== undefined) {
            ctx.recorder.add(SERVER_ELD, system.id, outcome.serverEventLoop.p99Ms, { ...outcome.serverEventLoop });
          }
        } catch (error) {
          ctx.recorder.error('throughput', system.id, error);
        }
      }
    }
  },
};
