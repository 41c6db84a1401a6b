/**
 * Brute-force protection: failed logins are throttled per address and per username, with a growing
 * delay and then a lockout; throttled attempts are refused at once (ETHROTTLED, no bcrypt work),
 * reported as `loginFailed` events, and do not slow other users down.
 *
 * The attacker connects from 127.0.0.2 (a loopback alias), the legitimate user from 127.0.0.1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuthProvider } from '../../src/auth/types.ts';
import { FileShareClient, type LoginFailedEvent } from '../../src/index.ts';
import { LoginGuard } from '../../src/server/login-guard.ts';
import { authFor, defer, dispose, hasLoopbackAlias, rejects, testServer, within } from './helpers.ts';

test.after.each(dispose);

const users = { alice: 'alice-password', bob: 'bob-password' };
const throttle = { freeAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 120_000, lockoutAfter: 10, lockoutMs: 600_000 };

/** An auth provider that counts how often it is asked (a throttled attempt must not reach it). */
async function countingAuth(): Promise<AuthProvider & { calls: number }> {
  const inner = await authFor(users);
  const counting = {
    calls: 0,
    authenticate(username: string, password: string, context: Parameters<AuthProvider['authenticate']>[2]) {
      counting.calls++;
      return inner.authenticate(username, password, context);
    },
  };
  return counting;
}

async function clientFrom(port: number, localAddress: string): Promise<FileShareClient> {
  const client = new FileShareClient({ host: '127.0.0.1', port, localAddress });
  defer(() => client.close());
  await client.connect();
  return client;
}

test('an attacker on 127.0.0.2 is throttled (ETHROTTLED, events, no bcrypt) while alice on 127.0.0.1 logs in fine', async () => {
  if (!(await hasLoopbackAlias())) {
    console.log('  (skipped: 127.0.0.2 is not usable on this machine)');
    return;
  }
  const auth = await countingAuth();
  const t = await testServer({ users, auth, server: { loginThrottle: throttle } });
  const events: LoginFailedEvent[] = [];
  t.server.on('loginFailed', (e) => events.push(e));

  const attacker = await clientFrom(t.port, '127.0.0.2');
  for (let i = 0; i < throttle.freeAttempts; i++) await rejects(attacker.login('bob', `guess-${i}`), 'EAUTH');
  const callsBefore = auth.calls;
  for (let i = 0; i < 5; i++) await rejects(attacker.login('bob', `more-${i}`), 'ETHROTTLED');
  // even the right password is refused while throttled: guessing it right is worth nothing
  await rejects(attacker.login('bob', 'bob-password'), 'ETHROTTLED');
  assert.is(auth.calls, callsBefore, 'throttled attempts reached the auth provider (bcrypt work)');
  assert.ok(attacker.connected, 'throttling is per attempt; the connection stays');

  // the legitimate user from another address is not affected
  const alice = await clientFrom(t.port, '127.0.0.1');
  assert.is((await alice.login('alice', 'alice-password')).username, 'alice');
  assert.equal(await alice.list('/'), []);

  const codes = events.map((e) => e.code);
  assert.equal(codes, ['EAUTH', 'EAUTH', 'EAUTH', 'ETHROTTLED', 'ETHROTTLED', 'ETHROTTLED', 'ETHROTTLED', 'ETHROTTLED', 'ETHROTTLED']);
  for (const e of events) {
    assert.is(e.username, 'bob');
    assert.is(e.connection.remoteAddress.replace(/^::ffff:/, ''), '127.0.0.2');
  }
});

test('per address: spraying many usernames from one address is throttled; other addresses still get in', async () => {
  if (!(await hasLoopbackAlias())) {
    console.log('  (skipped: 127.0.0.2 is not usable on this machine)');
    return;
  }
  const t = await testServer({ users, server: { loginThrottle: throttle } });
  const attacker = await clientFrom(t.port, '127.0.0.2');
  for (let i = 0; i < throttle.freeAttempts; i++) await rejects(attacker.login(`user${i}`, 'x'), 'EAUTH');
  await rejects(attacker.login('someone-new', 'x'), 'ETHROTTLED');
  await rejects(attacker.login('alice', 'alice-password'), 'ETHROTTLED');
  // a new connection from the same address is throttled as well
  const again = await clientFrom(t.port, '127.0.0.2');
  await rejects(again.login('alice', 'alice-password'), 'ETHROTTLED');
  // alice from her own address is fine: the names tried from 127.0.0.2 never reached the threshold
  const alice = await clientFrom(t.port, '127.0.0.1');
  await alice.login('alice', 'alice-password');
});

test('per username: guesses at one account from changing addresses are throttled by the name', async () => {
  if (!(await hasLoopbackAlias('127.0.0.3'))) {
    console.log('  (skipped: loopback aliases are not usable on this machine)');
    return;
  }
  const t = await testServer({ users, server: { loginThrottle: throttle } });
  for (let i = 0; i < throttle.freeAttempts; i++) {
    const c = await clientFrom(t.port, `127.0.0.${10 + i}`);
    await rejects(c.login('bob', `guess-${i}`), 'EAUTH');
  }
  const fresh = await clientFrom(t.port, '127.0.0.50');
  await rejects(fresh.login('bob', 'another-guess'), 'ETHROTTLED');
  // other accounts from that fresh address are unaffected
  await fresh.login('alice', 'alice-password');
});

test('concurrent guesses cannot outrun the throttle: pipelined on one connection, or spread over many', async () => {
  if (!(await hasLoopbackAlias())) {
    console.log('  (skipped: 127.0.0.2 is not usable on this machine)');
    return;
  }
  const auth = await countingAuth();
  const t = await testServer({ users, auth, server: { loginThrottle: throttle } });
  // 30 logins at once on one connection: one at a time is served, the others are EBUSY
  const one = await clientFrom(t.port, '127.0.0.2');
  const pipelined = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => one.login('bob', `guess-${i}`)));
  const codes = pipelined.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'));
  assert.is(codes.filter((c) => c === 'EAUTH').length, 1, JSON.stringify(codes));
  assert.is(codes.filter((c) => c === 'EBUSY').length, 29, JSON.stringify(codes));
  // 20 connections guessing alice's password at once: no more bcrypt checks than free attempts
  const before = auth.calls;
  const many = await Promise.all(Array.from({ length: 20 }, () => clientFrom(t.port, '127.0.0.3')));
  const spread = await Promise.allSettled(many.map((c, i) => c.login('alice', `guess-${i}`)));
  const spreadCodes = spread.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'));
  assert.is(auth.calls - before, throttle.freeAttempts, `${auth.calls - before} guesses reached bcrypt: ${JSON.stringify(spreadCodes)}`);
  assert.is(spreadCodes.filter((c) => c === 'ETHROTTLED').length, 20 - throttle.freeAttempts);
  // 20 connections from one address spraying 20 usernames at once: the address's free attempts only
  const sprayBefore = auth.calls;
  const sprayers = await Promise.all(Array.from({ length: 20 }, () => clientFrom(t.port, '127.0.0.4')));
  await Promise.allSettled(sprayers.map((c, i) => c.login(`user-${i}`, 'guess')));
  assert.is(auth.calls - sprayBefore, throttle.freeAttempts, `${auth.calls - sprayBefore} sprayed guesses reached bcrypt`);
});

test('concurrent logins of one user with the right password all succeed, throttle on', async () => {
  const t = await testServer({ users, server: { loginThrottle: throttle } });
  const clients = await Promise.all(Array.from({ length: 10 }, () => t.client()));
  const results = await Promise.all(clients.map((c) => c.login('alice', 'alice-password')));
  assert.equal(
    results.map((r) => r.username),
    Array(10).fill('alice'),
  );
});

test('a flood of throttled attempts does not slow down other users (loose ratio)', async () => {
  if (!(await hasLoopbackAlias())) {
    console.log('  (skipped: 127.0.0.2 is not usable on this machine)');
    return;
  }
  const t = await testServer({ users, server: { loginThrottle: throttle } });
  const timeLogin = async () => {
    const c = await clientFrom(t.port, '127.0.0.1');
    const started = performance.now();
    await c.login('alice', 'alice-password');
    const ms = performance.now() - started;
    await c.close();
    return ms;
  };
  await timeLogin(); // warm-up
  const baseline = Math.min(await timeLogin(), await timeLogin(), await timeLogin());

  const attackers = await Promise.all([1, 2, 3, 4].map(() => clientFrom(t.port, '127.0.0.2')));
  for (let i = 0; i < throttle.freeAttempts; i++) await rejects(attackers[0]!.login('bob', `guess-${i}`), 'EAUTH');
  let stop = false;
  let throttled = 0;
  const flood = attackers.map(async (a) => {
    while (!stop) {
      await rejects(a.login('bob', 'guess'), 'ETHROTTLED');
      throttled++;
    }
  });
  const during: number[] = [];
  for (let i = 0; i < 3; i++) during.push(await timeLogin());
  stop = true;
  await within(Promise.all(flood), 5000, 'the flood to stop');
  assert.ok(throttled > 20, `the flood was too small to mean anything (${throttled})`);
  const median = during.sort((a, b) => a - b)[1]!;
  assert.ok(median < baseline * 4 + 50, `alice's login took ${median.toFixed(0)} ms during the flood, ${baseline.toFixed(0)} ms before`);
});

test('LoginGuard: free attempts, then a delay that doubles up to its cap, then a lockout; forgotten after forgetAfterMs', () => {
  let now = 1_000_000;
  const guard = new LoginGuard(
    { freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 4000, lockoutAfter: 6, lockoutMs: 60_000, forgetAfterMs: 120_000 },
    () => now,
  );
  const fail = () => guard.recordFailure('10.0.0.1', 'bob');
  fail();
  assert.is(guard.check('10.0.0.1', 'bob'), 0);
  fail(); // 2nd: the delays start
  assert.is(guard.check('10.0.0.1', 'bob'), 1000);
  now += 1000;
  assert.is(guard.check('10.0.0.1', 'bob'), 0);
  fail(); // 3rd
  assert.is(guard.check('10.0.0.1', 'bob'), 2000);
  now += 2000;
  fail(); // 4th
  assert.is(guard.check('10.0.0.1', 'bob'), 4000);
  now += 4000;
  fail(); // 5th: capped
  assert.is(guard.check('10.0.0.1', 'bob'), 4000);
  now += 4000;
  fail(); // 6th: lockout
  assert.is(guard.check('10.0.0.1', 'bob'), 60_000);
  assert.is(guard.check('10.0.0.9', 'bob'), 60_000, 'the username is locked from any address');
  assert.is(guard.check('10.0.0.1', 'alice'), 60_000, 'the address is locked for any username');
  assert.is(guard.check('10.0.0.9', 'alice'), 0, 'others are not affected');
  now += 60_000;
  assert.is(guard.check('10.0.0.1', 'bob'), 0);
  fail(); // the record is still remembered: straight back to the lockout
  assert.ok(guard.check('10.0.0.1', 'bob') >= 4000);
  now += 60_000 + 120_001;
  assert.is(guard.check('10.0.0.1', 'bob'), 0);
  fail(); // forgotten: a fresh record, one free failure again
  assert.is(guard.check('10.0.0.1', 'bob'), 0);
});

test('LoginGuard: a success clears the records; loginThrottle: false turns it off', () => {
  let now = 0;
  const guard = new LoginGuard({ freeAttempts: 1, baseDelayMs: 1000 }, () => now);
  guard.recordFailure('a', 'u');
  assert.ok(guard.check('a', 'u') > 0);
  guard.recordSuccess('a', 'u');
  assert.is(guard.check('a', 'u'), 0);
  const off = new LoginGuard(false, () => now);
  for (let i = 0; i < 100; i++) off.recordFailure('a', 'u');
  assert.is(off.check('a', 'u'), 0);
  now++;
});

test.run();
