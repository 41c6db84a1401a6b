import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError } from '../../src/errors.ts';
import { MemoryAuthProvider } from '../../src/auth/memory-provider.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { isValidUsername } from '../../src/auth/user-record.ts';
import type { AuthContext } from '../../src/auth/types.ts';

const ctx: AuthContext = { remoteAddress: '127.0.0.1', remotePort: 40000, secure: false };

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, FileShareError);
    assert.is((err as FileShareError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

let aliceHash = '';
let provider: MemoryAuthProvider;

test.before(async () => {
  aliceHash = await hashPassword('alice-pw');
  provider = new MemoryAuthProvider({
    users: {
      alice: { passwordHash: aliceHash },
      carol: { passwordHash: aliceHash, home: 'teams/red', permissions: ['read', 'delete'], quotaBytes: 1000, maxFileSize: 10 },
    },
  });
});

test('accepts the right password, with default home and permissions', async () => {
  const user = await provider.authenticate('alice', 'alice-pw', ctx);
  assert.equal(user, { username: 'alice', permissions: ['read', 'write', 'delete'] });
  assert.not.ok('home' in user!);
  assert.ok(Object.isFrozen(user));
});

test('returns every field the record sets', async () => {
  const user = await provider.authenticate('carol', 'alice-pw', ctx);
  assert.equal(user, { username: 'carol', home: 'teams/red', permissions: ['read', 'delete'], quotaBytes: 1000, maxFileSize: 10 });
});

test('a wrong password and an unknown user are both null', async () => {
  assert.is(await provider.authenticate('alice', 'wrong', ctx), null);
  assert.is(await provider.authenticate('mallory', 'alice-pw', ctx), null);
  assert.is(await provider.authenticate('alice', '', ctx), null);
});

test('usernames: 1-64 of [A-Za-z0-9._@-], not starting with "."', () => {
  for (const ok of ['a', 'alice.smith', 'a@example.com', '_svc', '-x', 'A-9', 'x'.repeat(64)]) assert.ok(isValidUsername(ok), ok);
  for (const bad of ['', '.hidden', '..', 'a/b', 'a b', 'x'.repeat(65), 'é', 'a\0', 'a:b', 42, null]) {
    assert.not.ok(isValidUsername(bad), String(bad));
  }
});

test('invalid usernames are rejected as null, never thrown', async () => {
  for (const name of ['', '.hidden', '../alice', 'x'.repeat(65), undefined as unknown as string]) {
    assert.is(await provider.authenticate(name, 'alice-pw', ctx), null, String(name));
  }
});

test('fromPasswords hashes plain passwords; setUser and removeUser edit the users', async () => {
  const p = await MemoryAuthProvider.fromPasswords({ bob: { password: 'bob-pw', home: 'bob', permissions: ['read'] } });
  assert.equal(await p.authenticate('bob', 'bob-pw', ctx), { username: 'bob', home: 'bob', permissions: ['read'] });
  p.setUser('dave', { passwordHash: aliceHash });
  assert.ok(p.hasUser('dave'));
  assert.equal(await p.authenticate('dave', 'alice-pw', ctx), { username: 'dave', permissions: ['read', 'write', 'delete'] });
  assert.ok(p.removeUser('dave'));
  assert.not.ok(p.removeUser('dave'));
  assert.is(await p.authenticate('dave', 'alice-pw', ctx), null);
});

test('invalid users are refused: EINVAL for records and names, TypeError for options', () => {
  throwsCode(() => new MemoryAuthProvider({ users: { '.x': { passwordHash: aliceHash } } }), 'EINVAL');
  throwsCode(() => new MemoryAuthProvider({ users: { x: { passwordHash: 'plain' } } }), 'EINVAL');
  throwsCode(() => new MemoryAuthProvider({ users: { x: { passwordHash: aliceHash, home: '../etc' } } }), 'EINVAL');
  throwsCode(() => new MemoryAuthProvider({ users: { x: { passwordHash: aliceHash, permissions: ['root' as 'read'] } } }), 'EINVAL');
  throwsCode(() => provider.setUser('x', { passwordHash: aliceHash, quotaBytes: -1 }), 'EINVAL');
  assert.throws(() => new MemoryAuthProvider(undefined as never), TypeError);
  assert.throws(() => new MemoryAuthProvider({ users: [] as never }), TypeError);
});

test('the stored record is a copy: later changes to the input do not leak in', async () => {
  const record = { passwordHash: aliceHash, permissions: ['read' as const] };
  const p = new MemoryAuthProvider({ users: { erin: record } });
  record.permissions.push('write' as never);
  assert.equal((await p.authenticate('erin', 'alice-pw', ctx))?.permissions, ['read']);
});

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

test('an unknown user costs about as much as a wrong password (loose ratio)', async () => {
  await provider.authenticate('warmup-unknown', 'x', ctx);
  const wrong: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 3; i++) {
    wrong.push(await timed(() => provider.authenticate('alice', `wrong-${i}`, ctx)));
    unknown.push(await timed(() => provider.authenticate(`nobody-${i}`, 'alice-pw', ctx)));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratio = mean(unknown) / mean(wrong);
  assert.ok(ratio > 0.5 && ratio < 2, `unknown/wrong time ratio ${ratio.toFixed(2)}`);
});

test('the event loop keeps ticking while logins are checked', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const results = await Promise.all([
      provider.authenticate('alice', 'wrong', ctx),
      provider.authenticate('nobody', 'x', ctx),
      provider.authenticate('alice', 'alice-pw', ctx),
      provider.authenticate('carol', 'nope', ctx),
    ]);
    assert.equal(
      results.map((u) => u?.username ?? null),
      [null, null, 'alice', null],
    );
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 3, `only ${ticks} ticks during 4 logins`);
});

test.run();
