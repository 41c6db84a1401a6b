/**
 * Options are checked the same way on the client and the server: the same rule (a chunk never
 * larger than the window, the same ranges), the same error (a TypeError with code EINVAL) in the
 * same words. Durations follow one naming rule (no unit suffix, milliseconds), and the old `…Ms`
 * names still work as deprecated aliases.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, FileShareServer, JsonFileAuthProvider, MemoryAuthProvider } from '../../src/index.ts';
import { resolveClientOptions } from '../../src/client/options.ts';
import { resolveServerOptions } from '../../src/server/options.ts';
import { dispose, testServer } from './helpers.ts';

test.after.each(dispose);

const auth = new MemoryAuthProvider({ users: {} });
const root = '/nonexistent-fileshare-root';

/** The error `fn` throws, checked to be an option error. */
function optionError(fn: () => unknown): TypeError & { code?: string } {
  try {
    fn();
  } catch (err) {
    assert.instance(err, TypeError);
    assert.is((err as { code?: string }).code, 'EINVAL');
    return err as TypeError;
  }
  return assert.unreachable('expected an option error, nothing was thrown') as never;
}

test('chunkSize larger than window is refused on both sides, with the same message', () => {
  const client = optionError(() => new FileShareClient({ chunkSize: 65_536, window: 32_768 }));
  const server = optionError(() => new FileShareServer({ root, auth, chunkSize: 65_536, window: 32_768 }));
  assert.is(client.message, 'options.chunkSize (65536) must not exceed options.window (32768)');
  assert.is(server.message, client.message);
  // equal is fine on both sides
  new FileShareClient({ chunkSize: 32_768, window: 32_768 });
  new FileShareServer({ root, auth, chunkSize: 32_768, window: 32_768 });
});

test('the shared options have the same ranges and messages on both sides', () => {
  const bad: Array<Record<string, unknown>> = [
    { chunkSize: 100 },
    { window: 0 },
    { maxFrameSize: 1 },
    { stallTimeout: 0 },
    { stallBytes: 1.5 },
    { progressInterval: -1 },
    { progressInterval: 'fast' },
    { port: 70_000 },
  ];
  for (const options of bad) {
    const client = optionError(() => new FileShareClient(options));
    const server = optionError(() => new FileShareServer({ root, auth, ...options }));
    const name = Object.keys(options)[0]!;
    assert.ok(client.message.startsWith(`options.${name} must be `), client.message);
    // the port's range differs on purpose (a server may ask for any free port with 0); the rest is identical
    if (name === 'port') assert.ok(server.message.startsWith('options.port must be an integer from 0 to 65535'), server.message);
    else assert.is(server.message, client.message, JSON.stringify(options));
  }
  optionError(() => new FileShareServer({ root: '', auth }));
  optionError(() => new FileShareClient({ host: '' }));
});

test('durations: progressInterval is the name, progressIntervalMs a deprecated alias; both given must agree', () => {
  assert.is(resolveClientOptions({ progressInterval: 250 }).progressInterval, 250);
  assert.is(resolveClientOptions({ progressIntervalMs: 250 }).progressInterval, 250);
  assert.is(resolveClientOptions({ progressInterval: 250, progressIntervalMs: 250 }).progressInterval, 250);
  assert.is(resolveClientOptions({}).progressInterval, 100);
  assert.is(resolveServerOptions({ root, auth, progressIntervalMs: 40 }).progressInterval, 40);
  const clash = optionError(() => new FileShareClient({ progressInterval: 1, progressIntervalMs: 2 }));
  assert.match(clash.message, /options\.progressInterval \(1\) and its deprecated alias options\.progressIntervalMs \(2\) disagree/);
  optionError(() => new FileShareServer({ root, auth, progressInterval: 1, progressIntervalMs: 2 }));
});

test('durations: the nested server options follow the rule, with their old names as aliases', () => {
  new FileShareServer({ root, auth, loginThrottle: { baseDelay: 10, maxDelay: 20, lockout: 30, forgetAfter: 40 } });
  new FileShareServer({ root, auth, loginThrottle: { baseDelayMs: 10, maxDelayMs: 20, lockoutMs: 30, forgetAfterMs: 40 } });
  const throttle = optionError(() => new FileShareServer({ root, auth, loginThrottle: { lockout: -5 } }));
  assert.match(throttle.message, /^options\.loginThrottle\.lockout must be an integer/);
  optionError(() => new FileShareServer({ root, auth, loginThrottle: { baseDelay: 1, baseDelayMs: 2 } }));
  new FileShareServer({ root, auth, resumption: { ttl: 60_000 } });
  new FileShareServer({ root, auth, resumption: { ttlMs: 60_000 } });
  assert.match(optionError(() => new FileShareServer({ root, auth, resumption: { ttl: 0 } })).message, /^options\.resumption\.ttl must be/);
  new JsonFileAuthProvider('users.json', { reloadInterval: 0 });
  new JsonFileAuthProvider('users.json', { reloadIntervalMs: 0 });
  assert.match(
    optionError(() => new JsonFileAuthProvider('users.json', { reloadInterval: -1 })).message,
    /^options\.reloadInterval must be/,
  );
});

test('durations: ping, probe and measure take timeout / interval, and still the old timeoutMs / intervalMs', async () => {
  const t = await testServer();
  const client = await t.connect();
  assert.ok((await client.ping({ timeout: 5000 })) >= 0);
  assert.ok((await client.ping({ timeoutMs: 5000 })) >= 0);
  const lost: number[] = [];
  client.metrics.on('pingLost', (event) => lost.push(event.timeoutMs));
  const measured = await client.measure({ pings: 2, interval: 0, timeout: 5000, probes: 0, throughputBytes: 0 });
  assert.is(measured.packetLossPercent, 0);
  const old = await client.measure({ pings: 2, intervalMs: 0, timeoutMs: 5000, probes: 0, throughputBytes: 0 });
  assert.is(old.packetLossPercent, 0);
  assert.equal(lost, []);
  const clash = await client.measure({ pings: 1, interval: 0, intervalMs: 5, throughputBytes: 0 }).then(
    () => undefined,
    (err: unknown) => err,
  );
  optionError(() => {
    throw clash;
  });
});

test.run();
