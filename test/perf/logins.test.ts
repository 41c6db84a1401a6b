/**
 * Logins off the event loop: bcrypt runs on worker threads, so a logged-in client's pings are
 * answered all through a storm of logins; the number of logins waiting is capped per server
 * (EBUSY beyond), and the bcrypt threads' own queue is capped too. Behaviour only, no timings.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import bcrypt from 'bcryptjs';
import { BcryptPool, bcryptPool } from '../../src/auth/bcrypt-pool.ts';
import { hashPassword, verifyPassword } from '../../src/auth/password.ts';
import { MemoryAuthProvider } from '../../src/auth/memory-provider.ts';
import { FileShareError } from '../../src/errors.ts';
import { dispose, rejects, testServer } from '../core/helpers.ts';
import { FIXTURE_COST, fixtureHash } from '../auth-fixtures.ts';

test.after.each(dispose);

const users = { alice: 'alice-password', bob: 'bob-password' };
// The storms below are about the load that bcrypt's real cost puts on a server, so their users
// have hashes of the default cost, not the test fixtures' low one (../auth-fixtures.ts).
const atDefaultCost = MemoryAuthProvider.fromPasswords(users);
// The BcryptPool tests are about its queue, threads and close(), which work the same at any cost:
// they hash at the fixtures' cost.

test('hashes from the threads are ordinary bcrypt: bcryptjs on the main thread agrees both ways', async () => {
  const fromPool = await hashPassword('correct horse');
  assert.ok(bcrypt.compareSync('correct horse', fromPool));
  assert.match(fromPool, /^\$2b\$10\$/);
  const fromMain = bcrypt.hashSync('battery staple', 10);
  assert.ok(await verifyPassword('battery staple', fromMain));
  assert.not.ok(await verifyPassword('battery stapler', fromMain));
  assert.not.ok(bcryptPool().onMainThread, 'the shared pool fell back to the main thread');
});

test('a storm of logins does not stop the event loop: another client gets pings answered between verifications', async () => {
  const t = await testServer({ users, auth: await atDefaultCost, server: { maxConnectionsPerAddress: 100, maxConnections: 200 } });
  const watcher = await t.connect('alice');
  const storm = 24;
  const stormers = await Promise.all(Array.from({ length: storm }, () => t.client()));
  let finished = 0;
  let pingsDuringStorm = 0;
  let maxPingsBetweenLogins = 0;
  let sinceLastLogin = 0;
  const logins = Promise.all(
    stormers.map((c, i) =>
      c.login(i % 2 ? 'alice' : 'bob', i % 2 ? 'alice-password' : 'bob-password').then(() => {
        finished++;
        maxPingsBetweenLogins = Math.max(maxPingsBetweenLogins, sinceLastLogin);
        sinceLastLogin = 0;
      }),
    ),
  );
  // bounded: at most 20,000 pings, and never past the storm
  for (let i = 0; i < 20_000 && finished < storm; i++) {
    await watcher.ping({ timeoutMs: 30_000 });
    if (finished < storm) {
      pingsDuringStorm++;
      sinceLastLogin++;
    }
  }
  await logins;
  assert.is(finished, storm);
  // On the event loop, each verification (tens of ms of CPU) blocks every ping behind it: bcrypt
  // on the main thread, even with a loop turn between two checks, gave 3 pings per login. Off the
  // loop the watcher gets hundreds between two logins; 10 per login leaves room for a slow machine.
  assert.ok(pingsDuringStorm > 10 * storm, `only ${pingsDuringStorm} pings answered during ${storm} logins`);
  assert.ok(maxPingsBetweenLogins >= 20, `at most ${maxPingsBetweenLogins} pings between two logins`);
});

test('maxPendingLogins: a storm beyond the cap gets EBUSY at once, the rest log in, and the server recovers', async () => {
  const t = await testServer({ users, auth: await atDefaultCost, server: { maxPendingLogins: 3, maxConnectionsPerAddress: 100 } });
  const failures: string[] = [];
  t.server.on('loginFailed', ({ code }) => failures.push(code));
  const clients = await Promise.all(Array.from({ length: 12 }, () => t.client()));
  const settled = await Promise.allSettled(clients.map((c) => c.login('alice', 'alice-password')));
  const codes = settled.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as FileShareError).code));
  assert.ok(codes.filter((c) => c === 'ok').length >= 3, JSON.stringify(codes));
  assert.ok(codes.filter((c) => c === 'EBUSY').length >= 1, JSON.stringify(codes));
  assert.ok(
    codes.every((c) => c === 'ok' || c === 'EBUSY'),
    JSON.stringify(codes),
  );
  assert.ok(failures.length > 0 && failures.every((c) => c === 'EBUSY'), JSON.stringify(failures));
  // nothing stuck: the refused clients can log in once the storm is over
  for (const [i, r] of settled.entries()) {
    if (r.status === 'rejected') await clients[i]!.login('alice', 'alice-password');
  }
});

test('maxPendingLogins: a refused login is not counted as a failed one by the throttle', async () => {
  const throttle = { freeAttempts: 2, baseDelayMs: 60_000 };
  const t = await testServer({
    users,
    auth: await atDefaultCost,
    server: { maxPendingLogins: 1, maxConnectionsPerAddress: 100, loginThrottle: throttle },
  });
  const clients = await Promise.all(Array.from({ length: 8 }, () => t.client()));
  const settled = await Promise.allSettled(clients.map((c) => c.login('bob', 'bob-password')));
  assert.ok(settled.some((r) => r.status === 'rejected' && (r.reason as FileShareError).code === 'EBUSY'));
  // two free attempts: had the EBUSY ones counted, bob would now be throttled
  const again = await t.client();
  await again.login('bob', 'bob-password');
});

test('BcryptPool: a full queue refuses with EBUSY without losing the checks already queued', async () => {
  const pool = new BcryptPool({ threads: 1, maxQueued: 2 });
  try {
    const hash = fixtureHash('pw');
    // one runs, two wait, the fourth is refused
    const checks = [pool.compare('pw', hash), pool.compare('nope', hash), pool.compare('pw', hash)];
    await rejects(pool.compare('pw', hash), 'EBUSY');
    assert.equal(await Promise.all(checks), [true, false, true]);
    assert.is(pool.queued, 0);
    assert.not.ok(pool.onMainThread);
    // and it takes work again
    assert.ok(await pool.compare('pw', hash));
  } finally {
    await pool.close();
  }
});

test('BcryptPool: several threads work at once, in order of submission per answer', async () => {
  const pool = new BcryptPool({ threads: 2 });
  try {
    const hashes = await Promise.all(['a', 'b', 'c', 'd'].map((p) => pool.hash(p, FIXTURE_COST)));
    const answers = await Promise.all(hashes.map((h, i) => pool.compare(['a', 'b', 'x', 'd'][i]!, h)));
    assert.equal(answers, [true, true, false, true]);
  } finally {
    await pool.close();
  }
});

test('BcryptPool: close() fails waiting checks with ECLOSED; the pool starts afresh afterwards', async () => {
  const pool = new BcryptPool({ threads: 1 });
  const hash = fixtureHash('pw');
  const pending = Promise.allSettled([pool.compare('pw', hash), pool.compare('pw', hash)]);
  await pool.close();
  const codes = (await pending).map((r) => (r.status === 'rejected' ? (r.reason as FileShareError).code : 'ok'));
  assert.equal(codes, ['ECLOSED', 'ECLOSED']);
  assert.ok(await pool.compare('pw', hash));
  await pool.close();
});

test.run();
