/**
 * UDP probes on loopback: the server option, client.probe() and measure(), and the responder's
 * refusals (unauthenticated, wrong source address, replayed, over the rate, after the session).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileShareClient } from '../../src/client/client.ts';
import type { ProbeGrant } from '../../src/client/probe.ts';
import type { ProbeEvent, ProbeLostEvent } from '../../src/metrics/events.ts';
import { ProbeKind, encodeProbe, peekProbe, verifyProbe } from '../../src/protocol/probe.ts';
import { authFor, defer, dispose, rejects, tempDir, testServer, waitFor } from '../core/helpers.ts';

test.after.each(dispose);

const grantOf = (client: FileShareClient) => (client as unknown as { probeGrant: ProbeGrant | undefined }).probeGrant;

/** A UDP socket on `address` that collects what it receives. */
async function udpSocket(address = '127.0.0.1') {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (msg) => received.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  defer(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const send = (msg: Buffer, port: number) =>
    new Promise<void>((resolve, reject) => socket.send(msg, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  return { socket, received, send };
}

function probeFor(grant: ProbeGrant, seq: number, size = 64, key = grant.key) {
  return encodeProbe({ kind: ProbeKind.PROBE, keyId: grant.keyId, seq, sentAt: Date.now() }, key, size);
}

test('off by default: no key at login, probe() and measure() say UDP is unavailable and why', async () => {
  const t = await testServer();
  const client = await t.connect();
  assert.is(t.server.udpProbePort, undefined);
  assert.is(client.udpProbesOffered, false);
  const udp = await client.probe({ count: 3 });
  assert.is(udp.available, false);
  if (!udp.available) assert.match(udp.reason, /does not offer UDP probes/);
  const m = await client.measure({ pings: 2, intervalMs: 0, throughputBytes: 0 });
  assert.is(m.totalPings, 2);
  assert.is(m.udp.available, false);
});

test('on: probes answered on the TCP port number, with figures and one event per probe', async () => {
  const t = await testServer({ server: { udpProbes: true } });
  assert.is(t.server.udpProbePort, t.port);
  const client = await t.connect();
  assert.ok(client.udpProbesOffered);
  const events: ProbeEvent[] = [];
  const lost: ProbeLostEvent[] = [];
  client.metrics.on('probe', (e) => events.push(e));
  client.metrics.on('probeLost', (e) => lost.push(e));
  const udp = await client.probe({ count: 40, intervalMs: 1, size: 200, timeoutMs: 5000 });
  if (!udp.available) throw new Error(udp.reason);
  assert.is(udp.sent, 40);
  assert.is(udp.received, 40);
  assert.is(udp.lost, 0);
  assert.is(udp.lossPercent, 0);
  assert.is(udp.duplicated, 0);
  assert.is(udp.late, 0);
  assert.is(udp.sizeBytes, 200);
  assert.is(udp.samples.length, 40);
  assert.ok(udp.rtt.min > 0 && udp.rtt.min <= udp.rtt.p50 && udp.rtt.p50 <= udp.rtt.p95 && udp.rtt.p95 <= udp.rtt.max);
  assert.ok(udp.jitterMs >= 0);
  assert.is(events.length, 40);
  assert.is(lost.length, 0);
  assert.ok(events.every((e) => e.bytes === 200 && e.rttMs > 0));
  // sequence numbers keep increasing across runs (the server refuses repeats)
  const again = await client.probe({ count: 5, intervalMs: 0, timeoutMs: 5000 });
  assert.is(again.available && again.received, 5);
  assert.equal(
    events.slice(-5).map((e) => e.seq),
    [41, 42, 43, 44, 45],
  );
});

test('measure(): the TCP figures keep their names, and the UDP figures come beside them', async () => {
  const t = await testServer({ server: { udpProbes: true } });
  const client = await t.connect();
  const m = await client.measure({ pings: 5, probes: 20, intervalMs: 2, timeoutMs: 5000, throughputBytes: 64 * 1024 });
  assert.is(m.totalPings, 5);
  assert.is(m.successfulPings, 5);
  assert.is(m.packetLossPercent, 0);
  assert.ok(m.throughputMBps > 0);
  if (!m.udp.available) throw new Error(m.udp.reason);
  assert.is(m.udp.sent, 20);
  assert.is(m.udp.lossPercent, 0);
  const skipped = await client.measure({ pings: 1, probes: 0, throughputBytes: 0 });
  assert.is(skipped.udp.available, false);
  for (const bad of [{ size: 40 }, { size: 1473 }, { count: -1 }, { timeoutMs: 0 }, { intervalMs: Number.NaN }]) {
    const err = await client.probe(bad).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.instance(err, TypeError, JSON.stringify(bad));
  }
});

test('probe() before login is ENOTAUTH; an aborted signal is EABORTED; a signal during the run stops it early', async () => {
  const t = await testServer({ server: { udpProbes: true } });
  const anonymous = await t.client();
  await rejects(anonymous.probe(), 'ENOTAUTH');
  const client = await t.connect();
  await rejects(client.probe({ signal: AbortSignal.abort() }), 'EABORTED');
  const controller = new AbortController();
  let answered = 0;
  client.metrics.on('probe', () => ++answered === 3 && controller.abort());
  const udp = await client.probe({ count: 1000, intervalMs: 20, timeoutMs: 5000, signal: controller.signal });
  assert.ok(udp.available);
  if (udp.available) assert.ok(udp.sent >= 3 && udp.sent < 1000, `sent ${udp.sent}`);
});

test('the responder drops silently: garbage, unknown key ids, bad MACs, replies, other source addresses', async () => {
  const t = await testServer({ server: { udpProbes: true } });
  const client = await t.connect();
  const grant = grantOf(client)!;
  const raw = await udpSocket();
  const counters = t.server.probeCounters!;
  await raw.send(Buffer.from('hello?'), t.port);
  await raw.send(Buffer.alloc(1472, 0xff), t.port);
  await raw.send(probeFor({ ...grant, keyId: Buffer.alloc(8, 9) }, 1), t.port);
  await raw.send(probeFor(grant, 1, 64, Buffer.alloc(32, 1)), t.port);
  const reply = probeFor(grant, 1);
  reply[4] = ProbeKind.REPLY;
  await raw.send(reply, t.port);
  // the right key, from 127.0.0.2: not the address of the session's TCP connection
  const elsewhere = await udpSocket('127.0.0.2');
  await elsewhere.send(probeFor(grant, 1), t.port);
  await waitFor(() => counters.unauthenticated >= 6, 10_000, 'six unauthenticated datagrams');
  assert.is(counters.answered, 0);
  // and a good one from the right address is answered, with exactly its size, and verifies
  await raw.send(probeFor(grant, 1, 333), t.port);
  await waitFor(() => raw.received.length === 1, 10_000, 'the answer');
  assert.is(raw.received[0]!.length, 333);
  assert.ok(verifyProbe(raw.received[0]!, grant.key));
  assert.is(peekProbe(raw.received[0]!)!.kind, ProbeKind.REPLY);
  assert.is(elsewhere.received.length, 0);
});

test('a replayed probe is answered once', async () => {
  const t = await testServer({ server: { udpProbes: true } });
  const client = await t.connect();
  const grant = grantOf(client)!;
  const raw = await udpSocket();
  const probe = probeFor(grant, 7);
  for (let i = 0; i < 5; i++) await raw.send(probe, t.port);
  await waitFor(() => t.server.probeCounters!.replayed === 4, 10_000, 'four replays refused');
  assert.is(raw.received.length, 1);
});

test('per-session rate limit: a burst beyond maxPerSecond is dropped', async () => {
  const t = await testServer({ server: { udpProbes: { maxPerSecond: 10 } } });
  const client = await t.connect();
  const grant = grantOf(client)!;
  const raw = await udpSocket();
  await Promise.all(Array.from({ length: 200 }, (_, i) => raw.send(probeFor(grant, i + 1), t.port)));
  const counters = t.server.probeCounters!;
  await waitFor(() => counters.answered + counters.rateLimited === 200, 10_000, 'all 200 handled');
  assert.ok(counters.rateLimited > 0, `rate-limited ${counters.rateLimited}`);
  assert.ok(counters.answered < 200);
});

test('server-wide rate limit: two sessions together cannot exceed maxPerSecondTotal', async () => {
  const t = await testServer({ server: { udpProbes: { maxPerSecond: 1000, maxPerSecondTotal: 20 } } });
  const grants = [grantOf(await t.connect())!, grantOf(await t.connect())!];
  const raw = await udpSocket();
  await Promise.all(grants.flatMap((grant) => Array.from({ length: 100 }, (_, i) => raw.send(probeFor(grant, i + 1), t.port))));
  const counters = t.server.probeCounters!;
  await waitFor(() => counters.answered + counters.rateLimited === 200, 10_000, 'all 200 handled');
  assert.ok(counters.rateLimited > 0, `rate-limited ${counters.rateLimited}`);
  assert.ok(counters.answered < 200);
});

test('the key is forgotten when the session ends', async () => {
  const t = await testServer({ server: { udpProbes: true } });
  const client = await t.connect();
  const grant = grantOf(client)!;
  const raw = await udpSocket();
  await client.logout();
  await waitFor(() => t.server.connectionCount === 0, 10_000, 'the session to end');
  await raw.send(probeFor(grant, 1), t.port);
  await waitFor(() => t.server.probeCounters!.unauthenticated === 1, 10_000, 'the probe dropped');
  assert.is(raw.received.length, 0);
  assert.is(grantOf(client), undefined);
});

test('a UDP port that is taken: the server runs without probes and warns', async () => {
  // a port number free for TCP, then taken for UDP
  const probePort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
  const squatter = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => squatter.bind(probePort, '127.0.0.1', () => resolve()));
  defer(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const { FileShareServer } = await import('../../src/server/server.ts');
  const { FileShareClient } = await import('../../src/client/client.ts');
  const server = new FileShareServer({
    root: await tempDir(),
    auth: await authFor({ alice: 'alice-password' }),
    host: '127.0.0.1',
    port: probePort,
    udpProbes: true,
  });
  const warnings: string[] = [];
  server.on('warning', (w) => warnings.push(w.message));
  await server.listen();
  defer(() => server.close());
  assert.is(server.udpProbePort, undefined);
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /UDP probes are off: cannot bind UDP 127\.0\.0\.1:\d+/);
  const client = new FileShareClient({ port: probePort });
  defer(() => client.close());
  await client.connect();
  await client.login('alice', 'alice-password');
  const udp = await client.probe({ count: 1 });
  assert.is(udp.available, false);
});

test('options: udpProbes must be a boolean or limits', async () => {
  const { FileShareServer } = await import('../../src/server/server.ts');
  const auth = { authenticate: async () => null };
  assert.throws(() => new FileShareServer({ root: '/tmp/x', auth, udpProbes: 'yes' as never }), /udpProbes/);
  assert.throws(() => new FileShareServer({ root: '/tmp/x', auth, udpProbes: { maxPerSecond: 0 } }), /maxPerSecond/);
});

test.run();
