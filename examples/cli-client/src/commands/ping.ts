/** ping: round-trip time to the server, once or `-c N` times like ping(8). */
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, ExitCode, UsageError, hasCode } from '../errors.ts';
import { defineCommand } from './types.ts';

function positiveInt(name: string, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${name} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
}

export const ping = defineCommand({
  name: 'ping',
  args: '',
  summary: 'measure the round-trip time to the server (ms)',
  options: [
    { flags: '-c, --count <n>', description: 'number of pings', parse: positiveInt('--count', 1_000_000), defaultValue: 1 },
    { flags: '-i, --interval <ms>', description: 'wait between pings, ms', parse: positiveInt('--interval', 3_600_000), defaultValue: 1000 },
    { flags: '-W, --wait <ms>', description: 'how long to wait for each answer, ms', parse: positiveInt('--wait', 600_000), defaultValue: 5000 },
  ],
  async run(ctx, _args, opts) {
    const count = opts.count as number;
    const where = `${ctx.session.host}:${ctx.session.port}`;
    const times: number[] = [];
    let sent = 0;
    for (let seq = 1; seq <= count && !ctx.signal.aborted; seq++) {
      if (seq > 1) {
        // Ctrl-C during the wait ends the series early, with its statistics, as ping(8) does
        const waited = await sleep(opts.interval as number, true, { signal: ctx.signal }).catch(() => false);
        if (!waited) break;
      }
      sent++;
      try {
        const ms = await ctx.client.ping({ timeoutMs: opts.wait as number });
        times.push(ms);
        ctx.io.out(`reply from ${where}: seq=${seq} time=${ms.toFixed(2)} ms`);
      } catch (err) {
        if (!hasCode(err, 'ETIMEDOUT')) throw err;
        ctx.io.out(`no reply from ${where}: seq=${seq} timed out after ${String(opts.wait)} ms`);
      }
    }
    if (count > 1) {
      const lost = sent - times.length;
      const stats = times.length
        ? `, min/avg/max = ${Math.min(...times).toFixed(2)}/${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(2)}/${Math.max(...times).toFixed(2)} ms`
        : '';
      ctx.io.out(`--- ${where}: ${sent} sent, ${times.length} received, ${sent ? Math.round((lost / sent) * 100) : 0}% lost${stats}`);
    }
    if (sent > 0 && times.length === 0) throw new CliError(`no answer from ${where}`, ExitCode.CONNECTION);
  },
});
