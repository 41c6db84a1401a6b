/**
 * ping: round-trip time to the server, once or `-c N` times like ping(8). `-u` sends UDP probes
 * instead of pings inside the TCP connection: TCP resends lost packets, so only UDP shows loss.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileShareClient, ProbeEvent, ProbeLostEvent } from 'fileshare';
import { CliError, ExitCode, UsageError, hasCode } from '../errors.ts';
import type { CommandContext } from './types.ts';
import { defineCommand } from './types.ts';

function positiveInt(name: string, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new UsageError(`${name} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
}

export const ping = defineCommand({
  name: 'ping',
  args: '',
  summary: 'measure the round-trip time to the server (ms)',
  options: [
    { flags: '-c, --count <n>', description: 'number of pings', parse: positiveInt('--count', 1_000_000), defaultValue: 1 },
    {
      flags: '-i, --interval <ms>',
      description: 'wait between pings, ms',
      parse: positiveInt('--interval', 3_600_000),
      defaultValue: 1000,
    },
    {
      flags: '-W, --wait <ms>',
      description: 'how long to wait for each answer, ms',
      parse: positiveInt('--wait', 600_000),
      defaultValue: 5000,
    },
    { flags: '-u, --udp', description: 'send UDP probes, which show packet loss (TCP pings resend what is lost)' },
    { flags: '-s, --size <bytes>', description: 'with -u: size of each probe, 41-1472 bytes', parse: sizeInRange, defaultValue: 64 },
  ],
  async run(ctx, _args, opts) {
    const count = opts.count as number;
    const where = `${ctx.session.host}:${ctx.session.port}`;
    if (opts.udp)
      return udpPing(ctx, where, { count, intervalMs: opts.interval as number, timeoutMs: opts.wait as number, size: opts.size as number });
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
        const ms = await ctx.client.ping({ timeout: opts.wait as number });
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

function sizeInRange(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 41 || n > 1472)
    throw new UsageError(`--size must be an integer from 41 to 1472, got ${JSON.stringify(value)}`);
  return n;
}

/** `ping -u`: one line per probe as it settles, then ping(8)'s statistics with the UDP figures. */
async function udpPing(
  ctx: CommandContext,
  where: string,
  o: { count: number; intervalMs: number; timeoutMs: number; size: number },
): Promise<void> {
  const client: FileShareClient = ctx.client;
  const onProbe = (e: ProbeEvent) => ctx.io.out(`udp reply from ${where}: seq=${e.index} bytes=${e.bytes} time=${e.rttMs.toFixed(2)} ms`);
  const onLost = (e: ProbeLostEvent) => ctx.io.out(`no udp reply from ${where}: seq=${e.index} timed out after ${e.timeoutMs} ms`);
  client.metrics.on('probe', onProbe).on('probeLost', onLost);
  let result;
  try {
    result = await client.probe({ count: o.count, interval: o.intervalMs, timeout: o.timeoutMs, size: o.size, signal: ctx.signal });
  } finally {
    client.metrics.off('probe', onProbe).off('probeLost', onLost);
  }
  if (!result.available) throw new CliError(`no UDP ping to ${where}: ${result.reason}`, ExitCode.CONNECTION);
  const r = result;
  if (o.count > 1) {
    const ms = (x: number) => x.toFixed(2);
    const extra = [r.late && `${r.late} late`, r.duplicated && `${r.duplicated} duplicated`, r.reordered && `${r.reordered} reordered`]
      .filter(Boolean)
      .join(', ');
    ctx.io.out(`--- ${where} udp: ${r.sent} sent, ${r.received} received, ${fixedLoss(r.lossPercent)}% lost${extra ? `, ${extra}` : ''}`);
    ctx.io.out(
      `rtt min/avg/p50/p95/max = ${ms(r.rtt.min)}/${ms(r.rtt.avg)}/${ms(r.rtt.p50)}/${ms(r.rtt.p95)}/${ms(r.rtt.max)} ms, jitter ${ms(r.jitterMs)} ms`,
    );
  }
}

/** `10`, `9.8`, `0.1`: loss as ping(8) prints it, with a decimal when it is not whole. */
function fixedLoss(percent: number): string {
  return Number.isInteger(percent) ? String(percent) : percent.toFixed(1);
}
