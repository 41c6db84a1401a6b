/**
 * Concurrency: `clients` clients (default 200), all started at once from one client process, each
 * connecting, logging in and uploading its own 1 MiB file. Total time from the first connect to the
 * last upload done, how many failed (a wrong copy on the server counts as a failure), and the
 * server's peak RSS.
 */
import path from 'node:path';
import { makeRandomFile, verifyCopy } from '../files.ts';
import type { ConcurrencyResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { kibToMiB, withServer } from './context.ts';
import type { Workload } from './context.ts';

const base = { workload: 'concurrency' } as const;
export const TOTAL: Metric = { ...base, name: 'total s', unit: 's', better: 'lower' };
export const ERRORS: Metric = { ...base, name: 'errors', unit: 'count', better: 'lower', target: [{ bound: ['<=', 0] }] };
export const SERVER_RSS: Metric = { ...base, name: 'server peak RSS MiB', unit: 'MiB', better: 'lower' };

export const concurrency: Workload = {
  id: 'concurrency',
  title: 'Concurrent clients',
  budgetMs: (config, systems) => config.runs * systems * (120_000 + config.clients * 500),
  async run(ctx, systems) {
    const { clients, concurrencyFileSize } = ctx.config;
    const file = await makeRandomFile(path.join(ctx.tmp, 'one-mib.bin'), concurrencyFileSize);
    const clientTimeout = 60_000 + clients * 500;
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`concurrency ${system.id} run ${run}/${ctx.config.runs}`);
        try {
          const session = await withServer(ctx, system, clientTimeout, async (s) => {
            const { results } = await s.runClient([{ kind: 'concurrency', clients, local: file.path, remotePrefix: '/c-' }], clientTimeout);
            const r = results[0] as ConcurrencyResult | undefined;
            if (r === undefined) throw new Error('concurrency: missing result');
            let bad = 0;
            if (r.errors === 0) {
              for (let i = 0; i < clients; i++) {
                const copy = path.join(s.dataDir, `c-${String(i).padStart(5, '0')}.bin`);
                if ((await verifyCopy(copy, file)) !== undefined) bad++;
              }
            }
            return { r, bad };
          });
          const { r, bad } = session.value;
          const errors = r.errors + bad;
          ctx.recorder.add(TOTAL, system.id, r.seconds, { clients, clientP50: r.clientP50, clientMax: r.clientMax });
          ctx.recorder.add(ERRORS, system.id, errors, { firstErrors: r.firstErrors });
          ctx.recorder.add(SERVER_RSS, system.id, kibToMiB(session.serverPeakRssKiB));
          if (errors > 0) {
            ctx.recorder.error('concurrency', system.id, `${errors}/${clients} clients failed: ${r.firstErrors[0] ?? 'bad copy'}`);
          }
        } catch (error) {
          ctx.recorder.error('concurrency', system.id, error);
        }
      }
    }
  },
};
