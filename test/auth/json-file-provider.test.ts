import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileShareError } from '../../src/errors.ts';
import { JsonFileAuthProvider } from '../../src/auth/json-file-provider.ts';
import { addUser, writeUsersFile } from '../../src/auth/users-file.ts';
import type { AuthContext } from '../../src/auth/types.ts';
import { fixtureHash } from '../auth-fixtures.ts';

const ctx: AuthContext = { remoteAddress: '127.0.0.1', remotePort: 40000, secure: false };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir = '';
let hash = '';
let n = 0;
const fresh = () => join(dir, `users-${++n}.json`);
const providers: JsonFileAuthProvider[] = [];

function provider(path: string, errors: Error[] = [], reloadIntervalMs = 100): JsonFileAuthProvider {
  const p = new JsonFileAuthProvider(path, { reloadIntervalMs, onError: (err) => errors.push(err) });
  providers.push(p);
  return p;
}

/** Retry `check` until it is true, for at most `ms`. */
async function eventually(check: () => Promise<boolean> | boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return check();
}

const codes = (errors: Error[]) => errors.map((e) => (e as FileShareError).code);

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fileshare-auth-'));
  // the fixtures' low cost: these tests are about reloading, and they poll logins in loops
  hash = fixtureHash('alice-pw');
});

test.after.each(() => {
  for (const p of providers.splice(0)) p.close();
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('loads lazily, then picks up an added user and keeps the old users over a corrupt write', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash, home: 'alice' } });
  const errors: Error[] = [];
  const auth = provider(path, errors);
  assert.equal(await auth.authenticate('alice', 'alice-pw', ctx), {
    username: 'alice',
    home: 'alice',
    permissions: ['read', 'write', 'delete'],
  });
  assert.is(await auth.authenticate('alice', 'wrong', ctx), null);
  assert.is(await auth.authenticate('bob', 'bob-pw', ctx), null);

  await addUser(path, 'bob', 'bob-pw', { permissions: ['read'] });
  assert.ok(await eventually(async () => (await auth.authenticate('bob', 'bob-pw', ctx)) !== null), 'bob never appeared');

  // A plain (non-atomic) write: a poll may also catch the truncated, empty version in between.
  await writeFile(path, '{"users": {"alice": ');
  assert.ok(await eventually(() => errors.length > 0), 'onError was not called');
  await sleep(250);
  const reported = errors.length;
  assert.ok(await auth.authenticate('alice', 'alice-pw', ctx));
  await sleep(150);
  assert.ok(await auth.authenticate('bob', 'bob-pw', ctx));
  assert.ok(
    codes(errors).every((c) => c === 'EINVAL'),
    codes(errors).join(),
  );
  assert.is(errors.length, reported, 'the same bad version is reported once');

  await writeUsersFile(path, { alice: { passwordHash: hash } });
  assert.ok(await eventually(async () => (await auth.authenticate('bob', 'bob-pw', ctx)) === null), 'bob was never removed');
});

test('an invalid record in a reload keeps the previous users too', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  const errors: Error[] = [];
  const auth = provider(path, errors);
  await auth.load();
  await writeFile(path, JSON.stringify({ users: { alice: { passwordHash: hash, home: '../../etc' } } }));
  assert.ok(await eventually(() => errors.length > 0), 'onError was not called');
  assert.ok(
    codes(errors).every((c) => c === 'EINVAL'),
    codes(errors).join(),
  );
  assert.equal(await auth.authenticate('alice', 'alice-pw', ctx), { username: 'alice', permissions: ['read', 'write', 'delete'] });
});

test('a missing file: null for everyone, ENOENT reported once, then the file appears', async () => {
  const path = fresh();
  const errors: Error[] = [];
  const auth = provider(path, errors);
  assert.is(await auth.authenticate('alice', 'alice-pw', ctx), null);
  await sleep(150);
  assert.is(await auth.authenticate('alice', 'alice-pw', ctx), null);
  assert.equal(codes(errors), ['ENOENT']);
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  assert.ok(await eventually(async () => (await auth.authenticate('alice', 'alice-pw', ctx)) !== null), 'alice never appeared');
  assert.equal(codes(errors), ['ENOENT']);
});

test('load() rejects on a missing or invalid file, without calling onError', async () => {
  const errors: Error[] = [];
  try {
    await provider(join(dir, 'missing.json'), errors).load();
    assert.unreachable('load of a missing file');
  } catch (err) {
    assert.is((err as FileShareError).code, 'ENOENT');
  }
  const bad = fresh();
  await writeFile(bad, 'not json');
  try {
    await provider(bad, errors).load();
    assert.unreachable('load of a bad file');
  } catch (err) {
    assert.is((err as FileShareError).code, 'EINVAL');
  }
  assert.equal(errors, []);
});

test('a throwing onError does not break logins; reloadIntervalMs 0 reads the file once', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  const once = new JsonFileAuthProvider(path, {
    reloadIntervalMs: 0,
    onError: () => {
      throw new Error('boom');
    },
  });
  providers.push(once);
  assert.ok(await once.authenticate('alice', 'alice-pw', ctx));
  await writeFile(path, 'garbage');
  await sleep(50);
  assert.ok(await once.authenticate('alice', 'alice-pw', ctx));

  const throwing = new JsonFileAuthProvider(join(dir, 'missing.json'), {
    onError: () => {
      throw new Error('boom');
    },
  });
  providers.push(throwing);
  assert.is(await throwing.authenticate('alice', 'alice-pw', ctx), null);
});

test('invalid options are TypeErrors', () => {
  assert.throws(() => new JsonFileAuthProvider(''), TypeError);
  assert.throws(() => new JsonFileAuthProvider('x.json', { reloadIntervalMs: -1 }), TypeError);
  assert.throws(() => new JsonFileAuthProvider('x.json', { reloadIntervalMs: Number.NaN }), TypeError);
  assert.throws(() => new JsonFileAuthProvider('x.json', { onError: 'log' as never }), TypeError);
});

test('after close() the file is no longer watched or re-checked', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  const auth = provider(path, [], 20);
  assert.ok(await auth.authenticate('alice', 'alice-pw', ctx));
  auth.close();
  await writeUsersFile(path, {});
  await sleep(150);
  assert.ok(await auth.authenticate('alice', 'alice-pw', ctx), 'the users last loaded stay in effect');
});

test('after close() no watcher is left: a process that used the provider exits on its own', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  const moduleUrl = new URL('../../src/auth/json-file-provider.ts', import.meta.url).href;
  const script = `
    const { JsonFileAuthProvider } = await import(${JSON.stringify(moduleUrl)});
    const auth = new JsonFileAuthProvider(${JSON.stringify(path)}, { reloadIntervalMs: 20 });
    const user = await auth.authenticate('alice', 'alice-pw', { remoteAddress: '::1', remotePort: 1, secure: false });
    auth.close();
    console.log(user ? user.username : 'null');
  `;
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const started = Date.now();
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, timeout: 30_000 },
      (err, out) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout: out });
      },
    );
    child.stdin?.end();
  });
  assert.is(code, 0);
  assert.is(stdout.trim(), 'alice');
  // A watcher left behind keeps the child alive until the 30 s kill; a loaded machine needs seconds to start tsx.
  assert.ok(Date.now() - started < 30_000);
});

test.run();
