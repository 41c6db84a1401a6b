/**
 * Session-resumption tokens: a reconnecting client logs in without bcrypt, and a token stops
 * working when it expires, when the user's password or permissions change, under another server
 * key, over another connection type or certificate, or under another certificate pin.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryAuthProvider } from '../../src/auth/memory-provider.ts';
import { hashPassword } from '../../src/auth/password.ts';
import type { AuthProvider } from '../../src/auth/types.ts';
import { FileShareClient } from '../../src/client/client.ts';
import type { ResumeToken } from '../../src/client/client.ts';
import { FileShareServer } from '../../src/server/server.ts';
import type { FileShareServerOptions } from '../../src/server/options.ts';
import { defer, dispose, rejects, tempDir } from '../core/helpers.ts';
import { testCertificate } from '../tls-certs.ts';

test.after.each(dispose);

/** A provider that counts password checks (bcrypt) and delegates the rest. */
async function countingProvider(): Promise<{ provider: AuthProvider & { checks: number }; users: MemoryAuthProvider }> {
  const users = await MemoryAuthProvider.fromPasswords({ alice: { password: 'alice-password', permissions: ['read', 'write'] } });
  const provider = {
    checks: 0,
    authenticate(username: string, password: string, _context?: unknown) {
      provider.checks++;
      return users.authenticate(username, password);
    },
    lookup: (username: string) => users.lookup(username),
  };
  return { provider, users };
}

async function startServer(
  options: Partial<FileShareServerOptions> & Pick<FileShareServerOptions, 'auth' | 'root'>,
): Promise<FileShareServer> {
  const server = new FileShareServer({ host: '127.0.0.1', port: 0, loginThrottle: false, ...options });
  await server.listen();
  defer(() => server.close());
  return server;
}

function client(port: number, extra: ConstructorParameters<typeof FileShareClient>[0] = {}): FileShareClient {
  const c = new FileShareClient({ host: '127.0.0.1', port, ...extra });
  defer(() => c.close());
  return c;
}

const KEY = randomBytes(32);

test('login answers a token; another connection resumes with it, same user and permissions, no bcrypt', async () => {
  const { provider } = await countingProvider();
  const server = await startServer({ root: await tempDir(), auth: provider, resumption: { key: KEY } });
  const first = client(server.address().port);
  await first.connect();
  const login = await first.login('alice', 'alice-password');
  assert.ok(login.resumeToken, 'no token issued');
  assert.is(login.resumeToken!.username, 'alice');
  assert.ok(login.resumeToken!.expiresAt > Date.now());
  assert.is(provider.checks, 1);

  const second = client(server.address().port);
  await second.connect();
  const resumed = await second.resume(login.resumeToken);
  assert.is(resumed.username, 'alice');
  assert.equal([...resumed.permissions].sort(), ['read', 'write']);
  assert.is(provider.checks, 1, 'resuming ran a password check');
  // the session works, and resuming did not extend the token's life
  await second.mkdir('/from-resumed');
  assert.is(second.resumeToken!.expiresAt, login.resumeToken!.expiresAt);
});

test('reconnect() after a server restart with the same key: logged in again without a password', async () => {
  const { provider } = await countingProvider();
  const root = await tempDir();
  const server = await startServer({ root, auth: provider, resumption: { key: KEY } });
  const port = server.address().port;
  const c = client(port);
  await c.connect();
  await c.login('alice', 'alice-password');
  await server.close();
  const again = await startServer({ root, auth: provider, port, resumption: { key: KEY } });
  assert.is(again.address().port, port);
  const back = await c.reconnect();
  assert.is(back.username, 'alice');
  assert.is(provider.checks, 1);
  assert.ok((await c.ping()) >= 0);
  await c.mkdir('/after-restart');
});

test('a server with another key refuses the token (EAUTH); so does a tampered token', async () => {
  const { provider } = await countingProvider();
  const root = await tempDir();
  const server = await startServer({ root, auth: provider, resumption: { key: KEY } });
  const c = client(server.address().port);
  await c.connect();
  const { resumeToken } = await c.login('alice', 'alice-password');
  const other = await startServer({ root, auth: provider, resumption: { key: randomBytes(32) } });
  const d = client(other.address().port);
  await d.connect();
  await rejects(d.resume({ ...resumeToken!, port: other.address().port }), 'EAUTH');
  // a forged payload under the right key: the MAC does not match
  const e = client(server.address().port);
  await e.connect();
  const [payload, mac] = resumeToken!.token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), u: 'root' })).toString(
    'base64url',
  );
  await rejects(e.resume({ ...resumeToken!, token: `${forged}.${mac}` }), 'EAUTH');
  await rejects(e.resume({ ...resumeToken!, token: 'garbage' }), 'EAUTH');
  // and the genuine one still works there
  assert.is((await e.resume(resumeToken)).username, 'alice');
});

test('an expired token is refused: not sent by the client, and refused by the server when sent', async () => {
  const { provider } = await countingProvider();
  const server = await startServer({ root: await tempDir(), auth: provider, resumption: { key: KEY, ttlMs: 300 } });
  const c = client(server.address().port);
  await c.connect();
  const { resumeToken } = await c.login('alice', 'alice-password');
  await new Promise((resolve) => setTimeout(resolve, 600));
  const d = client(server.address().port);
  await d.connect();
  await rejects(d.resume(resumeToken), 'EAUTH');
  // a client whose clock is behind sends it anyway: the server checks the expiry it signed
  const lying: ResumeToken = { ...resumeToken!, expiresAt: Date.now() + 60_000 };
  const err = await rejects(d.resume(lying), 'EAUTH');
  assert.match(err.message, /expired/);
});

test('a password change or a permission change invalidates tokens issued before', async () => {
  const { provider, users } = await countingProvider();
  const server = await startServer({ root: await tempDir(), auth: provider, resumption: { key: KEY } });
  const port = server.address().port;
  const tokenNow = async (): Promise<ResumeToken> => {
    const c = client(port);
    await c.connect();
    return (await c.login('alice', 'alice-password')).resumeToken!;
  };
  const resumeWith = async (token: ResumeToken) => {
    const c = client(port);
    await c.connect();
    return c.resume(token);
  };
  // permissions change (same password)
  const beforePermissions = await tokenNow();
  const hash = await hashPassword('alice-password');
  users.setUser('alice', { passwordHash: hash, permissions: ['read'] });
  await rejects(resumeWith(beforePermissions), 'EAUTH');
  // a token issued after the change works and carries the new permissions
  const fresh = await tokenNow();
  assert.equal([...(await resumeWith(fresh)).permissions], ['read']);
  // password change (same permissions)
  users.setUser('alice', { passwordHash: await hashPassword('new-password'), permissions: ['read'] });
  await rejects(resumeWith(fresh), 'EAUTH');
  // a removed user
  const c = client(port);
  await c.connect();
  const last = (await c.login('alice', 'new-password')).resumeToken!;
  users.removeUser('alice');
  await rejects(resumeWith(last), 'EAUTH');
});

test('TLS: a token is never used under another pin, and the server refuses it under another certificate or over plain TCP', async () => {
  const [one, two] = await Promise.all([testCertificate('server'), testCertificate('other-server')]);
  const { provider } = await countingProvider();
  const root = await tempDir();
  const tlsServer = await startServer({ root, auth: provider, resumption: { key: KEY }, tls: { key: one.key, cert: one.cert } });
  const port = tlsServer.address().port;
  const pinned = client(port, { tls: { fingerprint256: one.fingerprint256 } });
  await pinned.connect();
  const { resumeToken } = await pinned.login('alice', 'alice-password');
  assert.ok(resumeToken!.fingerprint256 && resumeToken!.pin);

  // the same pin on a new connection: fine
  const samePin = client(port, { tls: { fingerprint256: one.fingerprint256 } });
  await samePin.connect();
  assert.is((await samePin.resume(resumeToken)).username, 'alice');

  // another pin (here: CA trust instead of the pin): the client does not send the token
  const trusting = client(port, { tls: { ca: one.cert, checkServerIdentity: () => undefined } });
  await trusting.connect();
  await rejects(trusting.resume(resumeToken), 'ETLS');

  // the same key behind another certificate: even a token doctored to match it is refused by the server
  const otherCert = await startServer({ root, auth: provider, resumption: { key: KEY }, tls: { key: two.key, cert: two.cert } });
  const elsewhere = client(otherCert.address().port, { tls: { fingerprint256: two.fingerprint256 } });
  await elsewhere.connect();
  await rejects(elsewhere.resume(resumeToken), 'ETLS');
  const doctored: ResumeToken = {
    ...resumeToken!,
    fingerprint256: two.fingerprint256.replace(/:/g, '').toLowerCase(),
    pin: two.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
  await rejects(elsewhere.resume(doctored), 'EAUTH');

  // ... and over plain TCP with the same key
  const plain = await startServer({ root, auth: provider, resumption: { key: KEY } });
  const tcp = client(plain.address().port);
  await tcp.connect();
  await rejects(tcp.resume(resumeToken), 'ETLS');
  const { fingerprint256: _fp, pin: _pin, ...bare } = resumeToken!;
  await rejects(tcp.resume(bare), 'EAUTH');
});

test('resumption: false issues no token; a provider without lookup gets none either', async () => {
  const { provider } = await countingProvider();
  const off = await startServer({ root: await tempDir(), auth: provider, resumption: false });
  const c = client(off.address().port);
  await c.connect();
  assert.is((await c.login('alice', 'alice-password')).resumeToken, undefined);
  const noLookup: AuthProvider = { authenticate: (u, p, ctx) => provider.authenticate(u, p, ctx) };
  const plain = await startServer({ root: await tempDir(), auth: noLookup });
  const d = client(plain.address().port);
  await d.connect();
  assert.is((await d.login('alice', 'alice-password')).resumeToken, undefined);
  await rejects(d.resume(), 'EINVAL');
});

test('failed resumptions count in the login throttle', async () => {
  const { provider } = await countingProvider();
  const server = await startServer({
    root: await tempDir(),
    auth: provider,
    resumption: { key: KEY },
    loginThrottle: { freeAttempts: 2, baseDelayMs: 60_000 },
  });
  const c = client(server.address().port);
  await c.connect();
  const { resumeToken } = await c.login('alice', 'alice-password');
  const bogus: ResumeToken = { ...resumeToken!, token: `${resumeToken!.token.split('.')[0]}.AAAA` };
  const codes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const d = client(server.address().port);
    await d.connect();
    try {
      await d.resume(bogus);
      codes.push('ok');
    } catch (err) {
      codes.push((err as { code: string }).code);
    }
  }
  assert.equal(codes.slice(0, 2), ['EAUTH', 'EAUTH']);
  assert.ok(
    codes.slice(2).every((code) => code === 'ETHROTTLED' || code === 'EAUTH'),
    JSON.stringify(codes),
  );
  // the address is now throttled for a valid token too
  const e = client(server.address().port);
  await e.connect();
  await rejects(e.resume(resumeToken), 'ETHROTTLED');
});

test.run();
