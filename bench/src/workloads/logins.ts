/**
 * Login storms: many clients connect and log in at once, each closing once logged in.
 *
 * - **Big storm** (`loginStorm`, default 1,000): the time until the last login is done, and that
 *   time divided by the ideal, `loginStorm × one verification ÷ bcrypt threads`. One verification
 *   is what the fileshare server measured itself at start (median of 5, one at a time on its warm
 *   pool); the threads are its bcrypt pool's. Only fileshare has the ideal: ftp-srv checks plain
 *   text and is shown for scale.
 * - **Small storm** (`clients`, default 200): the server's event-loop delay p99 over the session,
 *   which is the storm (monitorEventLoopDelay in the server process, 1 ms resolution).
 *
 * Every login must succeed: a failure records an error, not a figure.
 */
import type { LoginsResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { withServer } from './context.ts';
import type { BenchContext, Workload } from './context.ts';
import type { SystemDef } from '../systems.ts';

const base = { workload: 'logins' } as const;
export const STORM_SECONDS: Metric = { ...base, name: 'big storm s', unit: 's', better: 'lower' };
export const STORM_VS_IDEAL: Metric = {
  ...base,
  name: 'big storm ÷ (n × 1 check ÷ threads)',
  unit: 'x',
  better: 'lower',
  target: [{ bound: ['<=', 1.3] }],
};
export const VERIFY_MS: Metric = { ...base, name: 'one verification ms', unit: 'ms', better: 'lower' };
export const SMALL_STORM_ELD: Metric = {
  ...base,
  name: 'small storm: server loop delay p99 ms',
  unit: 'ms',
  better: 'lower',
  target: [{ bound: ['<=', 5] }],
};

async function storm(
  ctx: BenchContext,
  system: SystemDef,
  clients: number,
): Promise<{
  result: LoginsResult;
  hints: Readonly<Record<string, string>>;
  eldP99?: number;
}> {
  const timeout = 60_000 + clients * 300;
  const session = await withServer(ctx, system, timeout, async (s) => {
    const { results } = await s.runClient([{ kind: 'logins', clients }], timeout);
    const r = results[0] as LoginsResult | undefined;
    if (r === undefined) throw new Error('logins: missing result');
    return { result: r, hints: s.ready.hints ?? {} };
  });
  return {
    ...session.value,
    ...(session.serverEventLoop !== undefined ? { eldP99: session.serverEventLoop.p99Ms } : {}),
  };
}

export const logins: Workload = {
  id: 'logins',
  title: 'Login storms',
  budgetMs: (config, systems) => config.runs * systems * (180_000 + (config.loginStorm + config.clients) * 400),
  async run(ctx, systems) {
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`logins ${system.id} run ${run}/${ctx.config.runs}`);
        try {
          const big = await storm(ctx, system, ctx.config.loginStorm);
          if (big.result.errors > 0) {
            ctx.recorder.error('logins', system.id, `big storm: ${big.result.errors} failed: ${big.result.firstErrors[0]}`);
          } else {
            ctx.recorder.add(STORM_SECONDS, system.id, big.result.seconds, { clients: big.result.clients });
            const verifyMs = Number(big.hints.verifyMs);
            const threads = Number(big.hints.bcryptThreads);
            if (verifyMs > 0 && threads > 0) {
              const ideal = (big.result.clients * verifyMs) / 1000 / threads;
              ctx.recorder.add(VERIFY_MS, system.id, verifyMs);
              ctx.recorder.add(STORM_VS_IDEAL, system.id, big.result.seconds / ideal, { idealSeconds: ideal, threads });
            }
          }
          const small = await storm(ctx, system, ctx.config.clients);
          if (small.result.errors > 0) {
            ctx.recorder.error('logins', system.id, `small storm: ${small.result.errors} failed: ${small.result.firstErrors[0]}`);
          } else if (small.eldP99 !== undefined) {
            ctx.recorder.add(SMALL_STORM_ELD, system.id, small.eldP99, { clients: small.result.clients });
          }
        } catch (error) {
          ctx.recorder.error('logins', system.id, error);
        }
      }
    }
  },
};
