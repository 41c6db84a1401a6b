/**
 * Reconnect after a server restart: `loginStorm` clients (default 1,000) log in with passwords and
 * keep their session-resumption tokens; the server is stopped and a new one started with the same
 * resumption key (a new process, a new port); then every client reconnects at once with its token.
 * Reports the time until the last resumed login, which skips bcrypt, against the "a few
 * seconds" (checked as ≤ 5 s). fileshare systems only: the peers have no such thing.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { LoginsResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { withServer } from './context.ts';
import type { Workload } from './context.ts';

const base = { workload: 'reconnect', unit: 's', better: 'lower' } as const;
export const PASSWORD_LOGINS: Metric = { ...base, name: 'password logins before restart s' };
export const RESUMES: Metric = { ...base, name: 'all resumed after restart s', target: [{ bound: ['<=', 5] }] };

export const reconnect: Workload = {
  id: 'reconnect',
  title: 'Reconnect after a server restart',
  budgetMs: (config, systems) => config.runs * systems * (240_000 + config.loginStorm * 600),
  async run(ctx, systems) {
    const clients = ctx.config.loginStorm;
    const timeout = 60_000 + clients * 300;
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`reconnect ${system.id} run ${run}/${ctx.config.runs}`);
        const file = path.join(ctx.tmp, 'client', `${system.id}-tokens.json`);
        const resumeKey = randomBytes(32).toString('hex');
        try {
          const first = await withServer(
            ctx,
            system,
            timeout,
            async (s) => {
              const { results } = await s.runClient([{ kind: 'saveTokens', clients, file }], timeout);
              return results[0] as LoginsResult;
            },
            { resumeKey },
          );
          if (first.value.errors > 0) throw new Error(`${first.value.errors} password logins failed: ${first.value.firstErrors[0]}`);
          ctx.recorder.add(PASSWORD_LOGINS, system.id, first.value.seconds, { clients });
          const second = await withServer(
            ctx,
            system,
            timeout,
            async (s) => {
              const { results } = await s.runClient([{ kind: 'resumeStorm', file }], timeout);
              return results[0] as LoginsResult;
            },
            { resumeKey },
          );
          if (second.value.errors > 0) throw new Error(`${second.value.errors} resumes failed: ${second.value.firstErrors[0]}`);
          ctx.recorder.add(RESUMES, system.id, second.value.seconds, { clients });
        } catch (error) {
          ctx.recorder.error('reconnect', system.id, error);
        }
      }
    }
  },
};
