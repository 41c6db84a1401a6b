/**
 * Real packet loss on a real link: the server in one network namespace, the client in another,
 * joined by a veth pair on which nftables drops 5 % of the packets each way. The UDP probes see
 * the loss (about 1 - 0.95² = 9.75 %); the TCP pings do not (TCP sends the dropped segments again:
 * they show as latency, not loss). Skipped with a message where namespaces cannot be made (no root,
 * no nft), except in CI, where that is a failure.
 *
 * It shares the machine with the other test files: the namespaces, the veth pair and the rules are
 * named after this process, the fixed port is inside its own namespace, and every probe and ping
 * may take 3 s before it counts as lost, so a busy machine adds latency, not loss.
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MeasureResult } from '../../src/index.ts';
import { CHROMIUM, CHROMIUM_ARGS, CHROMIUM_PATHS, playwrightChromium } from '../chromium.ts';
import { type LossyLink, createLossyLink, lossyLinkUnavailable } from './netns.ts';

const SERVER = fileURLToPath(new URL('./fixtures/ns-server.ts', import.meta.url));
const MEASURE = fileURLToPath(new URL('./fixtures/ns-measure.ts', import.meta.url));
const PERF_GRAPH = fileURLToPath(new URL('../../examples/perf-graph/src/main.ts', import.meta.url));
// The README's screenshot of the live chart on a lossy link: refreshed only with UPDATE_SCREENSHOT=1
const README_SCREENSHOT = fileURLToPath(new URL('../../examples/perf-graph/screenshot.png', import.meta.url));

const unavailable = lossyLinkUnavailable();
let link: LossyLink | undefined;

test.before(async () => {
  if (unavailable) return;
  link = createLossyLink();
  const server = link.spawnNode(link.serverNs, SERVER, [link.serverAddress]);
  const line = await firstLine(server, /^listening /, 60_000);
  assert.match(line, /udp 4450/);
});

test.after(async () => {
  await link?.close();
});

/** Resolve with the first stdout line matching `pattern`. */
function firstLine(child: ChildProcess, pattern: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms; stdout: ${out}; stderr: ${err}`)), ms);
    child.stderr!.on('data', (d: Buffer) => (err += d));
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const line = out.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}; stdout: ${out}; stderr: ${err}`));
    });
  });
}

/** Run client.measure() in the client's namespace. */
async function measure(options: object): Promise<MeasureResult> {
  const child = link!.spawnNode(link!.clientNs, MEASURE, [link!.serverAddress, JSON.stringify(options)]);
  const line = await firstLine(child, /^\{/, 120_000);
  return JSON.parse(line, (_k, v: unknown) => (v === 'Infinity' ? Infinity : v)) as MeasureResult;
}

function skipped(): boolean {
  if (!unavailable) return false;
  if (process.env.CI === 'true') assert.unreachable(`CI must be able to create network namespaces: ${unavailable}`);
  console.warn(`skipped: ${unavailable}`);
  return true;
}

test('5 % loss each way: UDP probes report 5-15 % loss of 1,000, the TCP pings 0 %', async () => {
  if (skipped()) return;
  link!.setLoss(5);
  // 1,000 probes: 5 and 15 % are about five standard deviations (0.94 %) from the expected 9.75 %.
  // At 2 ms apart: two seconds of sending, then the last ones' 3 s timeout
  const m = await measure({ pings: 200, probes: 1000, intervalMs: 2, timeoutMs: 3000, throughputBytes: 0 });
  link!.setLoss(0);
  if (!m.udp.available) throw new Error(`UDP unavailable: ${m.udp.reason}`);
  const udp = m.udp;
  console.log(
    `  TCP: ${m.successfulPings}/${m.totalPings} pings answered, loss ${m.packetLossPercent} %, max ${m.maxLatencyMs.toFixed(1)} ms; ` +
      `UDP: ${udp.received}/${udp.sent} probes answered, loss ${udp.lossPercent.toFixed(1)} %, late ${udp.late}, p50 ${udp.rtt.p50.toFixed(2)} ms`,
  );
  assert.is(udp.sent, 1000);
  assert.ok(udp.lossPercent >= 5 && udp.lossPercent <= 15, `UDP loss ${udp.lossPercent} %`);
  assert.is(udp.lost, 1000 - udp.received);
  assert.is(m.totalPings, 200);
  assert.is(m.packetLossPercent, 0, 'TCP retransmits: no ping is lost');
  assert.is(m.successfulPings, 200);
});

test('UDP blocked by a firewall: measure() says UDP is unavailable, and the TCP figures are still there', async () => {
  if (skipped()) return;
  link!.blockUdp(true);
  const m = await measure({ pings: 10, probes: 20, intervalMs: 10, timeoutMs: 3000, throughputBytes: 0 });
  link!.blockUdp(false);
  assert.is(m.udp.available, false);
  if (!m.udp.available) {
    assert.match(m.udp.reason, /blocked/);
    assert.is(m.udp.sent, 20);
  }
  assert.is(m.successfulPings, 10);
});

test('no loss configured: no probe is lost', async () => {
  if (skipped()) return;
  const m = await measure({ pings: 5, probes: 200, intervalMs: 2, timeoutMs: 3000, throughputBytes: 0 });
  if (!m.udp.available) throw new Error(m.udp.reason);
  assert.is(m.udp.lost, 0);
  assert.is(m.packetLossPercent, 0);
});

test('perf-graph on the lossy link: the live chart shows UDP loss while the TCP pings lose nothing', async () => {
  if (skipped()) return;
  if (!CHROMIUM) {
    if (process.env.CI === 'true') assert.unreachable(`CI installs Chromium at ${CHROMIUM_PATHS}`);
    console.warn(`skipped: no Chromium at ${CHROMIUM_PATHS}`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'fileshare-netns-perf-'));
  // Chromium runs in the client's namespace too, where the app serves the page on 127.0.0.1
  const wrapper = join(dir, 'chromium-in-netns');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${link!.clientNs} ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o755);
  // the browser first: the app's run lasts only 10 s, and a slow browser start must not outlast it
  const browser = await playwrightChromium().launch({ executablePath: wrapper, args: [...CHROMIUM_ARGS], timeout: 60_000 });
  link!.setLoss(5);
  const app = link!.spawnNode(
    link!.clientNs,
    PERF_GRAPH,
    [
      '--host',
      link!.serverAddress,
      '--user',
      'alice',
      '--count',
      '400',
      '--interval',
      '25',
      '--throughput-bytes',
      '0',
      '--window',
      '10',
      // as in the measurements above: a slow answer on a busy machine is late, not lost
      '--timeout',
      '3000',
      '--out-dir',
      dir,
    ],
    {
      FILESHARE_PASSWORD: 'alice-password',
      NO_COLOR: '1',
    },
  );
  let out = '';
  app.stdout!.on('data', (d: Buffer) => (out += d));
  const chartLine = firstLine(app, /^live chart: /, 60_000);
  try {
    const url = (await chartLine).slice('live chart: '.length).trim();
    const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
    await page.goto(url, { timeout: 30_000 });
    await page.waitForSelector('#chart canvas', { timeout: 30_000 });
    const deadline = Date.now() + 60_000;
    while (Number(await page.getAttribute('#chart', 'data-points')) < 380) {
      if (Date.now() > deadline) throw new Error(`the chart did not fill up; stdout: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const udpLoss = (await page.textContent('#udp-loss')) ?? '';
    const tcpLoss = (await page.textContent('#loss')) ?? '';
    console.log(`  page: TCP loss ${tcpLoss}, UDP loss ${udpLoss}, UDP loss last second ${await page.textContent('#udp-rate')}`);
    assert.is(tcpLoss, '0.0 % (0)');
    const percent = Number(/^([\d.]+) %/.exec(udpLoss)?.[1]);
    assert.ok(percent >= 3 && percent <= 20, `UDP loss on the page: ${udpLoss}`);
    await page.screenshot({ path: process.env.UPDATE_SCREENSHOT === '1' ? README_SCREENSHOT : join(dir, 'screenshot.png') });
    await new Promise<void>((resolve) => (app.exitCode !== null ? resolve() : app.once('exit', () => resolve())));
    assert.match(out, /Packet Loss {5}: {2}0\.0 %/);
    assert.match(out, /UDP loss \d+\.\d % \(\d+ \/ 400 answered/);
  } finally {
    link!.setLoss(0);
    await browser.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
