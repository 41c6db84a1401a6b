/** Logins: bad credentials, commands before login, throttling, the users file reloaded live, timeouts. */
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, JsonFileAuthProvider, addUser, writeUsersFile, type LoginFailedEvent } from '../../src/index.ts';
import { dispose, rejects, tempDir, testServer, waitFor, within } from './helpers.ts';

test.after.each(dispose);

test('a wrong password is EAUTH, and the connection stays usable for another try', async () => {
  const t = await testServer();
  const failed: LoginFailedEvent[] = [];
  t.server.on('loginFailed', (e) => failed.push(e));
  const client = await t.client();
  await rejects(client.login('alice', 'wrong'), 'EAUTH');
  assert.is(client.loggedInAs, undefined);
  const { username, permissions } = await client.login('alice', 'alice-password');
  assert.equal({ username, permissions }, { username: 'alice', permissions: ['read', 'write', 'delete'] });
  assert.equal(
    failed.map((e) => [e.username, e.code]),
    [['alice', 'EAUTH']],
  );
});

test('an unknown user is EAUTH too (indistinguishable), even a malformed name', async () => {
  const t = await testServer();
  const client = await t.client();
  await rejects(client.login('mallory', 'alice-password'), 'EAUTH');
  await rejects(client.login('../etc', 'x'), 'EAUTH');
  await rejects(client.login('', ''), 'EAUTH');
});

test('every command before login is ENOTAUTH, ping is allowed', async () => {
  const t = await testServer();
  const client = await t.client();
  await rejects(client.list('/'), 'ENOTAUTH');
  await rejects(client.stat('/'), 'ENOTAUTH');
  await rejects(client.mkdir('/a'), 'ENOTAUTH');
  await rejects(client.rmdir('/a'), 'ENOTAUTH');
  await rejects(client.delete('/a'), 'ENOTAUTH');
  await rejects(client.rename('/a', '/b'), 'ENOTAUTH');
  await rejects(client.upload(Readable.from([Buffer.from('x')]), '/a'), 'ENOTAUTH');
  await rejects(client.download('/a', new PassThrough()), 'ENOTAUTH');
  await client.ping();
});

test('repeated failed logins are throttled with ETHROTTLED, without asking the auth provider', async () => {
  const t = await testServer({ server: { loginThrottle: { freeAttempts: 2, baseDelayMs: 60_000 } } });
  const codes: string[] = [];
  t.server.on('loginFailed', (e) => codes.push(e.code));
  const client = await t.client();
  await rejects(client.login('alice', 'bad1'), 'EAUTH');
  await rejects(client.login('alice', 'bad2'), 'EAUTH');
  const started = Date.now();
  await rejects(client.login('alice', 'bad3'), 'ETHROTTLED');
  // even the right password is refused while throttled, from another connection too
  const other = await t.client();
  await rejects(other.login('alice', 'alice-password'), 'ETHROTTLED');
  assert.equal(codes, ['EAUTH', 'EAUTH', 'ETHROTTLED', 'ETHROTTLED']);
  assert.ok(Date.now() - started < 60_000);
});

test('throttling lifts after its delay, and a success clears the record', async () => {
  // the delay must outlast one round trip of a login on a loaded machine, or the second try slips through
  const t = await testServer({ server: { loginThrottle: { freeAttempts: 1, baseDelayMs: 1000 } } });
  const client = await t.client();
  await rejects(client.login('alice', 'bad'), 'EAUTH');
  await rejects(client.login('alice', 'alice-password'), 'ETHROTTLED');
  await waitFor(
    async () => {
      try {
        await client.login('alice', 'alice-password');
        return true;
      } catch (err) {
        if ((err as { code?: string }).code !== 'ETHROTTLED') throw err;
        return false;
      }
    },
    6000,
    'the throttle to lift',
  );
  assert.is(client.loggedInAs?.username, 'alice');
});

test('a user added to the users file while the server runs can log in (JsonFileAuthProvider reload)', async () => {
  const dir = await tempDir();
  const usersFile = path.join(dir, 'users.json');
  await writeUsersFile(usersFile, {});
  await addUser(usersFile, 'alice', 'alice-password');
  const auth = new JsonFileAuthProvider(usersFile, { reloadIntervalMs: 50, onError: () => {} });
  const t = await testServer({ auth });
  const alice = await t.client();
  await alice.login('alice', 'alice-password');
  const bob = await t.client();
  await rejects(bob.login('bob', 'bob-password'), 'EAUTH');
  await addUser(usersFile, 'bob', 'bob-password', { home: 'bob', permissions: ['read'] });
  await waitFor(
    async () => {
      try {
        await bob.login('bob', 'bob-password');
        return true;
      } catch (err) {
        if ((err as { code?: string }).code !== 'EAUTH') throw err;
        return false;
      }
    },
    5000,
    'bob to be able to log in',
  );
  assert.equal(
    { username: bob.loggedInAs?.username, permissions: bob.loggedInAs?.permissions },
    { username: 'bob', permissions: ['read'] },
  );
  await rejects(bob.mkdir('/x'), 'EACCES');
});

test('an auth provider that throws gives EIO to the client and an error event on the server', async () => {
  const t = await testServer({
    auth: {
      async authenticate() {
        throw new Error('database down');
      },
    },
  });
  const errors: Error[] = [];
  t.server.on('error', (e) => errors.push(e));
  const client = await t.client();
  const err = await rejects(client.login('alice', 'x'), 'EIO');
  assert.not.match(err.message, 'database');
  assert.is(errors.length, 1);
});

test('a client that does not log in within loginTimeout is disconnected; its close event fires', async () => {
  const t = await testServer({ server: { loginTimeout: 300 } });
  const client = await t.client();
  const closed = new Promise<unknown>((resolve) => client.once('close', resolve));
  const error = await within(closed, 3000, 'the close event');
  assert.is((error as { code?: string } | undefined)?.code, 'ETIMEDOUT');
  assert.is(client.connected, false);
  await rejects(client.list('/'), 'ETIMEDOUT');
});

test('a logged-in client is not subject to the login timeout', async () => {
  // generous: the bcrypt check of the login itself must fit in loginTimeout on a loaded machine
  const t = await testServer({ server: { loginTimeout: 1000 } });
  const client = await t.connect();
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.ok(client.connected);
  await client.list('/');
});

test('login with a client made without the helper, by the public API', async () => {
  const t = await testServer();
  const client = new FileShareClient({ host: '127.0.0.1', port: t.port });
  await client.connect();
  try {
    await client.login('alice', 'alice-password');
    assert.ok(client.connected);
  } finally {
    await client.close();
  }
  assert.not.ok(client.connected);
});

test.run();
