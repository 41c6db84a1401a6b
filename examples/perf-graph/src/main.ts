/**
 * `npm run perf -- [options]`: ping a fileshare server at a steady rate and plot the latency live,
 * in the browser (uPlot fed by server-sent events) and in the terminal; optionally under a load of
 * uploads and downloads. Ends with the seed's NETWORK PERFORMANCE block and appends to
 * network_summary.csv and latency_details.csv. See ../README.md.
 */
import { spawn } from 'node:child_process';
import { Command, CommanderError, Option } from 'commander';
import type { FileShareClientOptions } from 'fileshare';
import { type LiveServer, startLiveServer } from './http-server.ts';
import { formatSize, integer, parseSize, port, positiveNumber } from './options.ts';
import { promptPassword } from './prompt.ts';
import { report, summaryOf, udpSummaryOf } from './report.ts';
import { type RunResult, run } from './run.ts';
import type { LiveStats, Point } from './stats.ts';
import { LiveLine } from './terminal.ts';

interface CliOptions {
  host: string;
  port: number;
  user?: string;
  tls?: boolean;
  fingerprint?: string;
  interval: number;
  timeout: number;
  count?: number;
  duration?: number;
  load?: number;
  throughputBytes: number;
  window: number;
  browser: boolean;
  httpHost: string;
  httpPort: number;
  open?: boolean;
  outDir: string;
  svg?: string;
  png?: string;
  chromium: string;
}

const program = new Command('perf-graph')
  .description('Ping a fileshare server at a steady rate and plot the latency live in the browser and the terminal.')
  .option('--host <host>', 'server host', '127.0.0.1')
  .option('-p, --port <port>', 'server port', port(false), 4450)
  .option('-u, --user <name>', 'user name (default: $FILESHARE_USER); the password comes from $FILESHARE_PASSWORD or a prompt')
  .option('--tls', 'connect over TLS, checking the certificate against the system CAs')
  .option('--fingerprint <hex>', "connect over TLS and pin the server certificate's SHA-256 fingerprint")
  .option('-i, --interval <ms>', 'time between pings, ms', integer(1), 100)
  .option('-t, --timeout <ms>', 'a ping unanswered after this long is lost, ms', integer(1), 1000)
  .option('-n, --count <n>', 'pings to send, 0 = until Ctrl-C (default: 50, or none with --duration)', integer(0))
  .option('-d, --duration <seconds>', 'length of the run', positiveNumber)
  .option('--load <size>', 'upload then download SIZE (e.g. 64M) over and over during the run', parseSize)
  .addOption(
    new Option(
      '--throughput-bytes <size>',
      "without --load: upload SIZE to the server's discard sink at the end to measure throughput, 0 = skip",
    )
      .argParser(parseSize)
      .default(8 * 1024 * 1024, '8M'),
  )
  .option('--window <n>', 'answered pings in the rolling average', integer(1), 10)
  .option('--no-browser', 'terminal only: no web server for the live chart')
  .option('--http-host <addr>', 'address the live chart is served on', '127.0.0.1')
  .option('--http-port <port>', 'port of the live chart, 0 = any free port', port(true), 0)
  .option('--open', 'open the live chart in the default browser (xdg-open)')
  .option('-o, --out-dir <dir>', 'folder of network_summary.csv and latency_details.csv', '.')
  .option('--svg <file>', 'save the chart as SVG at the end')
  .option('--png <file>', 'save the chart as PNG at the end (rendered by headless Chromium)')
  .option('--chromium <path>', 'the Chromium executable used by --png', '/usr/bin/chromium')
  .exitOverride();

async function main(): Promise<number> {
  try {
    program.parse();
  } catch (err) {
    return err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') ? 0 : 2;
  }
  const o = program.opts<CliOptions>();
  const user = o.user ?? process.env.FILESHARE_USER;
  if (!user) return usage('no user name: pass --user NAME or set FILESHARE_USER');
  const count = o.count ?? (o.duration !== undefined ? 0 : 50);
  const password =
    process.env.FILESHARE_PASSWORD ?? (await promptPassword(`password for ${user}@${o.host}:${o.port}: `).catch((err: Error) => err));
  if (password instanceof Error) return usage(password.message);

  const tls: FileShareClientOptions['tls'] = o.fingerprint ? { fingerprint256: o.fingerprint } : o.tls === true;
  const target = `${user}@${o.host}:${o.port}`;
  const controller = new AbortController();
  const stopOn = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130); // second Ctrl-C: quit now
    console.error(`\nperf-graph: ${signal}: stopping the run (Ctrl-C again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', stopOn).on('SIGTERM', stopOn);

  const planned = count || (o.duration ? Math.ceil((o.duration * 1000) / o.interval) : 0);
  const line = new LiveLine(process.stdout, planned);
  const history: Point[] = [];
  let stats: LiveStats | undefined;
  const startedAt = Date.now();
  let live: LiveServer | undefined;
  if (o.browser) {
    try {
      live = await startLiveServer({
        host: o.httpHost,
        port: o.httpPort,
        hello: () => ({
          user,
          target: `${o.host}:${o.port}`,
          intervalMs: o.interval,
          timeoutMs: o.timeout,
          planned,
          window: o.window,
          loadBytes: o.load ?? 0,
          load: formatSize(o.load ?? 0),
          throughputBytes: o.throughputBytes,
          startedAt,
        }),
        history: () => ({ points: history, stats }),
      });
    } catch (err) {
      console.error(`perf-graph: cannot serve the live chart on ${o.httpHost}:${o.httpPort}: ${(err as Error).message}`);
      return 1;
    }
    console.log(`live chart: ${live.url}`);
    if (o.open) openBrowser(live.url);
  }

  const result = await run(
    {
      client: { host: o.host, port: o.port, tls },
      user,
      password,
      intervalMs: o.interval,
      timeoutMs: o.timeout,
      count,
      durationMs: (o.duration ?? 0) * 1000,
      loadBytes: o.load ?? 0,
      throughputBytes: o.throughputBytes,
      window: o.window,
      signal: controller.signal,
    },
    {
      onConnected: (name) => {
        const bound = count ? `${count} pings` : o.duration ? `${o.duration} s` : 'until Ctrl-C';
        const load = o.load ? `, load ${formatSize(o.load)} up and down` : '';
        console.log(`connected to ${o.host}:${o.port}${tls ? ' (TLS)' : ''} as ${name}: ping every ${o.interval} ms, ${bound}${load}`);
      },
      onPoint: (point, s) => {
        history.push(point);
        stats = s;
        line.update(s);
        live?.broadcast('point', { point, stats: s });
      },
      onWarning: (message) => (line.clear(), console.error(`perf-graph: ${message}`)),
      onInfo: (message) => (line.clear(), console.log(message)),
    },
  ).catch((err: Error): RunResult => ({
    failure: `unexpected error: ${err.message}`,
    points: history,
    throughputMBps: 0,
    planned,
    reconnects: 0,
  }));
  line.end();

  const at = new Date();
  const summary = summaryOf(result, at);
  const udp = udpSummaryOf(result);
  live?.broadcast('end', { summary: { ...summary, samples: undefined, udp: { ...udp, samples: undefined } } });
  await live?.close();
  if (result.failure) console.error(`perf-graph: ${result.failure}`);
  if (result.connectionLost) console.error(`perf-graph: connection lost: ${result.connectionLost}`);
  if (result.reconnects > 0) console.log(`reconnected ${result.reconnects} time${result.reconnects > 1 ? 's' : ''} during the run`);
  if (controller.signal.aborted && !result.failure)
    console.log(`stopped early: ${result.points.length}${planned ? ` of ${planned}` : ''} pings sent`);
  const written = await report(result, summary, at, {
    outDir: o.outDir,
    svg: o.svg,
    png: o.png,
    chromium: o.chromium,
    target,
    load: (o.load ?? 0) > 0,
  });
  const failed =
    result.failure !== undefined || result.connectionLost !== undefined || (summary.totalPings > 0 && summary.successfulPings === 0);
  return failed || !written ? 1 : 0;
}

function usage(message: string): number {
  console.error(`perf-graph: ${message}`);
  return 2;
}

/** Best effort: the URL is printed anyway. */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
  child.on('error', (err) => console.error(`perf-graph: cannot open a browser (${err.message}): open ${url} yourself`));
  child.unref();
}

process.exitCode = await main();
// everything is closed by now; do not let a straggling handle keep the process alive
setTimeout(() => process.exit(), 2000).unref();
