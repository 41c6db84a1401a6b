/**
 * examples/perf-graph, end to end: the app runs as a child process (scripts/run.mjs, as `npm run
 * perf` does) against an in-process server; the live page is checked in headless Chromium.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareServer, type MemoryAuthProvider } from '../../src/index.ts';
import { fixtureAuth } from '../auth-fixtures.ts';
import { CHROMIUM, CHROMIUM_ARGS, CHROMIUM_PATHS, playwrightChromium } from '../chromium.ts';

const RUN = fileURLToPath(new URL('../../scripts/run.mjs', import.meta.url));
// The README's screenshot is taken on a lossy link by test/udp/netns.test.ts; this one goes to the
// temp folder, so that a run never dirties the tree.
const SEED_SUMMARY_HEADER = 'Average_Latency_ms,Throughput_MBps,Packet_Loss_percent,Successful_Pings,Total_Pings,Timestamp';
const SEED_DETAILS_HEADER = 'Run_Timestamp,Seq,Sent_At,Latency_ms,Lost';
// the UDP probes' columns come after the seed's
const SUMMARY_HEADER = `${SEED_SUMMARY_HEADER},UDP_Available,UDP_Loss_percent,UDP_Received,UDP_Sent,UDP_Average_ms,UDP_P95_ms,UDP_Jitter_ms`;
const DETAILS_HEADER = `${SEED_DETAILS_HEADER},UDP_Latency_ms,UDP_Lost`;

interface App {
  readonly child: ChildProcess;
  readonly out: { stdout: string; stderr: string };
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const apps: App[] = [];
const dirs: string[] = [];
let server: FileShareServer;
let root: string;
let port: number;
let auth: MemoryAuthProvider;
let browser: Promise<Browser | undefined>;

/** Start the app in `cwd`; its own process group, so that `stop` also reaches the tsx child. */
function start(args: string[], cwd: string, password = 'pw'): App {
  const child = spawn(process.execPath, [RUN, 'examples/perf-graph/src/main.ts', '--user', 'alice', ...args], {
    cwd,
    env: { ...process.env, FILESHARE_PASSWORD: password, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const app = { child, out, exit };
  apps.push(app);
  return app;
}

/** Kill the app's process group (by the PID of its leader) if it is still running. */
function stop(app: App): void {
  if (app.child.exitCode !== null || app.child.signalCode !== null || app.child.pid === undefined) return;
  try {
    process.kill(-app.child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function finished(app: App, ms = 20_000) {
  return within(app.exit, ms, () => `the app to exit\nstdout: ${app.out.stdout}\nstderr: ${app.out.stderr}`);
}

function within<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Poll `probe` until it returns a value; `what` (a function: evaluated on failure) names it. */
async function until<T>(probe: () => T | undefined | Promise<T | undefined>, ms: number, what: string | (() => string)): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The `hello` and `history` events a page receives when it connects to `/events`. */
async function firstEvents(url: URL): Promise<{ hello: any; history: any }> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.is(res.headers.get('content-type'), 'text/event-stream');
  const decoder = new TextDecoder();
  let text = '';
  const events: Record<string, unknown> = {};
  try {
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      for (const m of text.matchAll(/^event: (\w+)\ndata: (.*)\n\n/gm)) events[m[1]!] = JSON.parse(m[2]!);
      if (events.hello && events.history) return events as { hello: any; history: any };
    }
    throw new Error('the event stream ended early');
  } finally {
    controller.abort();
  }
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'perf-graph-test-'));
  dirs.push(dir);
  return dir;
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l.length > 0);
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port: free } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return free;
}

test.before(async () => {
  // launched now, used by the browser test: Chromium is slow to start on a busy machine
  browser = CHROMIUM
    ? playwrightChromium()
        .launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], timeout: 30_000 })
        .catch(() => undefined)
    : Promise.resolve(undefined);
  root = await tempDir();
  auth = fixtureAuth({ alice: 'pw' });
  server = new FileShareServer({ root, auth, host: '127.0.0.1', port: 0, udpProbes: true });
  ({ port } = await server.listen());
});

test.after(async () => {
  apps.forEach(stop);
  await server?.close();
  await (await browser)?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('--no-browser: 20 pings, the seed summary block, and both CSV files (appended by a second run)', async () => {
  const cwd = await tempDir();
  for (const runNo of [1, 2]) {
    const app = start(['--port', String(port), '--no-browser', '--count', '20', '--interval', '20', '--throughput-bytes', '1M'], cwd);
    try {
      const { code } = await finished(app);
      assert.is(code, 0, app.out.stderr);
      const { stdout } = app.out;
      assert.match(
        stdout,
        /=====\n {10}NETWORK PERFORMANCE\n=====\n\nAverage Latency : {2}\d+\.\d\d ms\nThroughput {6}: {2}\d+\.\d\d MB\/s\nPacket Loss {5}: {2}0\.0 %\nSuccessful pings: 20 \/ 20\nTimestamp {7}: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n=====/,
      );
      // after the seed's block: the UDP probes, sent with the pings
      assert.match(
        stdout,
        /\nUDP loss 0\.0 % \(20 \/ 20 answered; 0 late, 0 duplicated, 0 reordered\)\nUDP latency min [\d.]+ \/ p50 [\d.]+ \/ p95 [\d.]+ \/ max [\d.]+ ms, jitter [\d.]+ ms\n/,
      );
    } finally {
      stop(app);
    }
    const summary = await lines(join(cwd, 'network_summary.csv'));
    assert.is(summary[0], SUMMARY_HEADER);
    assert.is(summary.length, 1 + runNo);
    const fields = summary[runNo]!.split(',');
    assert.is(fields.length, 13);
    const [avg, mbps, loss, ok, total, at, udpOn, udpLoss, udpOk, udpSent, udpAvg] = fields;
    assert.equal([udpOn, udpLoss, udpOk, udpSent], ['1', '0', '20', '20']);
    assert.ok(Number(udpAvg) > 0, `UDP average ${udpAvg}`);
    assert.ok(Number(avg) > 0 && Number.isFinite(Number(avg)), `average ${avg}`);
    assert.ok(Number(mbps) > 0, `throughput ${mbps}`);
    assert.is(Number(loss), 0);
    assert.is(Number(ok), 20);
    assert.is(Number(total), 20);
    assert.match(at!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const details = await lines(join(cwd, 'latency_details.csv'));
    assert.is(details[0], DETAILS_HEADER);
    assert.is(details.length, 1 + 20 * runNo);
    const last = details[details.length - 1]!.split(',');
    assert.is(last.length, 7);
    assert.is(last[1], '20');
    assert.ok(Number(last[3]) > 0);
    assert.is(last[4], '0');
    assert.ok(Number(last[5]) > 0, `UDP round trip ${last[5]}`);
    assert.is(last[6], '0');
  }
});

test('server down or wrong password: clear message, non-zero exit, the seed failure row', async () => {
  const cwd = await tempDir();
  const down = start(['--port', String(await freePort()), '--no-browser', '--count', '20'], cwd);
  const wrong = start(['--port', String(port), '--no-browser', '--count', '30'], cwd, 'not-the-password');
  try {
    const [a, b] = await Promise.all([finished(down), finished(wrong)]);
    assert.is(a.code, 1);
    assert.match(down.out.stderr, /cannot connect to 127\.0\.0\.1:\d+: .*refused/);
    assert.is(b.code, 1);
    assert.match(wrong.out.stderr, /login as alice on 127\.0\.0\.1:\d+ failed: wrong user name or password/);
    for (const app of [down, wrong]) {
      assert.not.match(app.out.stderr, /\n\s+at /, 'no stack trace');
      assert.match(app.out.stdout, /Average Latency : {2}inf ms/);
    }
  } finally {
    stop(down);
    stop(wrong);
  }
  const rows = (await lines(join(cwd, 'network_summary.csv'))).slice(1).map((r) => r.split(',').slice(0, 5).join(','));
  assert.equal(rows.sort(), ['inf,0,100,0,20', 'inf,0,100,0,30']);
  for (const row of (await lines(join(cwd, 'network_summary.csv'))).slice(1)) assert.match(row, /,0,,,0,,,$/, 'no UDP figures');
  assert.not.ok(existsSync(join(cwd, 'latency_details.csv')), 'no ping, no detail rows');
});

test("a CSV begun with the seed's columns keeps them; a server without UDP probes: the summary says so", async () => {
  const cwd = await tempDir();
  const plain = new FileShareServer({ root, auth, host: '127.0.0.1', port: 0 });
  const { port: plainPort } = await plain.listen();
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(cwd, 'network_summary.csv'), `${SEED_SUMMARY_HEADER}\n1.5,2,0,10,10,2025-11-24 00:56:13\n`);
  await writeFile(join(cwd, 'latency_details.csv'), `${SEED_DETAILS_HEADER}\n2025-11-24 00:56:13,1,2025-11-24 00:56:12.488,1.108401,0\n`);
  const app = start(['--port', String(plainPort), '--no-browser', '--count', '5', '--interval', '10', '--throughput-bytes', '0'], cwd);
  try {
    const { code } = await finished(app);
    assert.is(code, 0, app.out.stderr);
    assert.match(app.out.stdout, /UDP loss not measured: the server does not offer UDP probes/);
  } finally {
    stop(app);
    await plain.close();
  }
  const summary = await lines(join(cwd, 'network_summary.csv'));
  assert.is(summary[0], SEED_SUMMARY_HEADER);
  assert.ok(
    summary.every((l) => l.split(',').length === 6),
    summary.join('\n'),
  );
  const details = await lines(join(cwd, 'latency_details.csv'));
  assert.is(details.length, 7);
  assert.ok(
    details.every((l) => l.split(',').length === 5),
    details.join('\n'),
  );
});

test('--svg: the chart as SVG with polylines; --png without Chromium fails clearly but keeps the CSV', async () => {
  const cwd = await tempDir();
  // the PNG rendering itself is checked by hand (Chromium takes ~10 s to start on a busy machine)
  const app = start(
    [
      '--port',
      String(port),
      '--no-browser',
      '--count',
      '15',
      '--interval',
      '20',
      '--throughput-bytes',
      '0',
      '--svg',
      'chart.svg',
      '--png',
      'chart.png',
      '--chromium',
      '/nonexistent/chromium',
    ],
    cwd,
  );
  try {
    const { code } = await finished(app);
    assert.is(code, 1, 'the PNG step failed');
    assert.match(app.out.stderr, /cannot write chart\.png: Chromium not found at \/nonexistent\/chromium/);
    assert.match(app.out.stdout, /Successful pings: 15 \/ 15/);
  } finally {
    stop(app);
  }
  const svg = await readFile(join(cwd, 'chart.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<g class="latency"[^>]*><polyline points="(\d+\.\d,\d+\.\d ){14}\d+\.\d,\d+\.\d"\/>/);
  assert.match(svg, /<g class="rolling-average"[^>]*><polyline /);
  assert.match(svg, /<g class="udp-latency"[^>]*><polyline points="(\d+\.\d,\d+\.\d ){14}\d+\.\d,\d+\.\d"\/>/);
  assert.match(svg, /<g class="udp-loss"[^>]*><polyline /);
  assert.match(svg, /<\/svg>\n$/);
  assert.is((await lines(join(cwd, 'network_summary.csv'))).length, 2);
  assert.is((await lines(join(cwd, 'latency_details.csv'))).length, 16);
  assert.not.ok(existsSync(join(cwd, 'chart.png')));
});

test('browser: the live chart keeps updating over SSE under load; SIGINT still prints the summary', async () => {
  const b = await browser;
  if (!b) {
    console.warn(`skipped: no Chromium at ${CHROMIUM_PATHS}`);
    return;
  }
  const cwd = await tempDir();
  // long enough that a slow browser start on a busy machine cannot outlast the run: SIGINT ends it
  const app = start(['--port', String(port), '--duration', '60', '--interval', '50', '--load', '8M'], cwd);
  let page: Page | undefined;
  try {
    const url = await until(
      () => /live chart: (http:\/\/\S+)/.exec(app.out.stdout)?.[1],
      15_000,
      () => `the URL\nstdout: ${app.out.stdout}\nstderr: ${app.out.stderr}`,
    );
    page = await within(b.newPage({ viewport: { width: 1100, height: 640 } }), 20_000, 'a page');
    await page.goto(url, { timeout: 15_000 });
    await page.waitForSelector('#chart canvas', { timeout: 15_000 });
    const read = async () => ({
      points: Number(await page!.getAttribute('#chart', 'data-points')),
      count: Number(await page!.textContent('#count')),
    });
    const first = await until(async () => ((await read()).points > 0 ? read() : undefined), 10_000, 'the first points');
    await sleep(1000);
    const second = await read();
    assert.ok(second.points > first.points, `data-points ${first.points} → ${second.points}`);
    assert.ok(second.count > first.count, `#count ${first.count} → ${second.count}`);
    assert.is(await page.textContent('#status'), 'live');
    assert.match((await page.textContent('#avg')) ?? '', /^\d+\.\d+ ms$/);
    assert.match((await page.textContent('#loss')) ?? '', /^\d+\.\d % \(\d+\)$/);
    assert.match((await page.textContent('#udp-avg')) ?? '', /^\d+\.\d+ ms$/);
    assert.match((await page.textContent('#udp-loss')) ?? '', /^\d+\.\d % \(\d+\)$/);
    assert.match((await page.textContent('#udp-rate')) ?? '', /^\d+\.\d %$/);
    // a new page gets the settings and every point so far, first thing
    const { hello, history } = await within(firstEvents(new URL('/events', url)), 10_000, 'hello and history from /events');
    assert.is(hello.loadBytes, 8 * 1024 * 1024);
    assert.is(hello.intervalMs, 50);
    assert.ok(history.points.length >= second.count, `history of ${history.points.length} points`);
    assert.equal(history.points.map((p: { seq: number }) => p.seq).slice(0, 3), [1, 2, 3]);
    assert.is(history.stats.count, history.points.length);
    // a few seconds of transfers on the chart (3 s at 50 ms a point), then a screenshot of it
    await until(async () => ((await read()).points >= 60 ? true : undefined), 15_000, '60 points');
    const shot = join(tmpdir(), `fileshare-perf-graph-${process.pid}.png`);
    await page.screenshot({ path: shot });
    await rm(shot, { force: true });

    app.child.kill('SIGINT'); // by PID: scripts/run.mjs forwards it to the app
    const { code } = await finished(app);
    assert.is(code, 0, app.out.stderr);
    assert.match(app.out.stdout, /stopped early: \d+ of 1200 pings sent/);
    assert.match(app.out.stdout, /NETWORK PERFORMANCE[\s\S]*Throughput {6}: {2}\d+\.\d\d MB\/s[\s\S]*Successful pings: \d+ \/ \d+/);
    await until(async () => ((await page!.textContent('#status')) === 'finished' ? true : undefined), 5000, 'the page to show the end');
    const rows = await lines(join(cwd, 'network_summary.csv'));
    assert.is(rows.length, 2);
    assert.ok(Number(rows[1]!.split(',')[1]) > 0, `load throughput in ${rows[1]}`);
    assert.equal(
      (await readdir(root)).filter((n) => n.startsWith('.perf-load-') || n.startsWith('.fileshare-part-')),
      [],
      'the scratch file is deleted',
    );
  } finally {
    await page?.close().catch(() => undefined);
    stop(app);
  }
});

test('a server restart mid-run: the app reconnects, counts the lost pings, and finishes', async () => {
  const cwd = await tempDir();
  const first = new FileShareServer({ root, auth, host: '127.0.0.1', port: 0, udpProbes: true });
  const { port: restartPort } = await first.listen();
  let second: FileShareServer | undefined;
  const app = start(['--port', String(restartPort), '--no-browser', '--count', '60', '--interval', '50', '--throughput-bytes', '0'], cwd);
  try {
    await until(
      () => app.out.stdout.includes('connected to'),
      20_000,
      () => `the connection\nstdout: ${app.out.stdout}\nstderr: ${app.out.stderr}`,
    );
    await sleep(500);
    await first.close();
    await sleep(300);
    second = new FileShareServer({ root, auth, host: '127.0.0.1', port: restartPort, udpProbes: true });
    await second.listen();
    const { code } = await finished(app);
    assert.is(code, 0, app.out.stderr);
    assert.match(app.out.stderr, /connection lost: .*reconnecting/);
    assert.match(app.out.stdout, /reconnected 1 time during the run/);
    assert.match(app.out.stdout, /Successful pings: \d+ \/ 60/);
    const details = await lines(join(cwd, 'latency_details.csv'));
    assert.is(details.length, 61);
    assert.ok(
      details.some((l) => l.split(',')[4] === '1'),
      'pings lost during the restart are marked',
    );
    // the UDP probes start again on the new connection
    assert.ok(
      details.slice(-10).some((l) => l.split(',')[6] === '0'),
      `probes after the restart:\n${details.slice(-10).join('\n')}`,
    );
  } finally {
    stop(app);
    await first.close();
    await second?.close();
  }
});

test.run();
