/**
 * Memory: peak RSS of the server and of the client processes while one big file (default 2 GiB)
 * moves: one server process serves an upload and then a download, each by its own client process.
 * Peak = the larger of the VmHWM the process reads from /proc/self/status at its end and the one
 * the harness samples every 100 ms. Workers run as plain JS (see build.ts), so the figures hold the
 * system's memory, not a TypeScript loader's.
 */
import path from 'node:path';
import { makeRandomFile, place, removeFiles, verifyCopy } from '../files.ts';
import type { Metric } from '../results.ts';
import { kibToMiB, transferTimeoutMs, withServer } from './context.ts';
import type { Workload } from './context.ts';

const base = { workload: 'memory', unit: 'MiB', better: 'lower' } as const;
/** Growth: peak RSS minus the RSS the process had before the transfer (server: at ready; client: at start). */
const growth = { ...base, target: [{ bound: ['<=', 64] }] } as const;
export const SERVER: Metric = { ...base, name: 'server peak RSS MiB' };
export const UP_CLIENT: Metric = { ...base, name: 'upload: client peak RSS MiB' };
export const DOWN_CLIENT: Metric = { ...base, name: 'download: client peak RSS MiB' };
export const SERVER_GROWTH: Metric = { ...growth, name: 'server RSS growth MiB' };
export const UP_GROWTH: Metric = { ...growth, name: 'upload: client RSS growth MiB' };
export const DOWN_GROWTH: Metric = { ...growth, name: 'download: client RSS growth MiB' };
const START: Metric = { workload: 'memory', name: 'server RSS at start MiB', unit: 'MiB', better: 'lower' };

export const memory: Workload = {
  id: 'memory',
  title: 'Peak memory during a big transfer',
  budgetMs: (config, systems) => config.runs * systems * (2 * transferTimeoutMs(config.memorySize) + 120_000),
  async run(ctx, systems) {
    const big =
      ctx.config.memorySize === ctx.config.size
        ? await ctx.bigFile()
        : await makeRandomFile(path.join(ctx.tmp, 'memory.bin'), ctx.config.memorySize);
    const received = path.join(ctx.tmp, 'client', 'memory-down.bin');
    const timeout = transferTimeoutMs(big.size);
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`memory ${system.id} run ${run}/${ctx.config.runs}`);
        let uploaded: string | undefined;
        try {
          const session = await withServer(ctx, system, 2 * timeout, async (s) => {
            uploaded = path.join(s.dataDir, 'up.bin');
            await place(big.path, path.join(s.dataDir, 'memory.bin'));
            const up = await s.runClient([{ kind: 'upload', local: big.path, remote: '/up.bin' }], timeout);
            const upBad = await verifyCopy(uploaded, big);
            await removeFiles(uploaded);
            const down = await s.runClient([{ kind: 'download', remote: '/memory.bin', local: received }], timeout);
            const downBad = await verifyCopy(received, big);
            if (upBad ?? downBad) throw new Error(String(upBad ?? downBad));
            return { up, down };
          });
          const { up, down } = session.value;
          ctx.recorder.add(SERVER, system.id, kibToMiB(session.serverPeakRssKiB));
          ctx.recorder.add(UP_CLIENT, system.id, kibToMiB(up.peakRssKiB));
          ctx.recorder.add(DOWN_CLIENT, system.id, kibToMiB(down.peakRssKiB));
          ctx.recorder.add(SERVER_GROWTH, system.id, kibToMiB(session.serverPeakRssKiB - session.serverRssAtReadyKiB));
          if (up.startRssKiB > 0) ctx.recorder.add(UP_GROWTH, system.id, kibToMiB(up.peakRssKiB - up.startRssKiB));
          if (down.startRssKiB > 0) ctx.recorder.add(DOWN_GROWTH, system.id, kibToMiB(down.peakRssKiB - down.startRssKiB));
          ctx.recorder.add(START, system.id, kibToMiB(session.serverRssAtReadyKiB));
        } catch (error) {
          ctx.recorder.error('memory', system.id, error);
        } finally {
          await removeFiles(received, ...(uploaded !== undefined ? [uploaded] : []));
        }
      }
    }
  },
};
