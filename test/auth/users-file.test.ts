import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileShareError } from '../../src/errors.ts';
import { hashPassword, verifyPassword } from '../../src/auth/password.ts';
import { parseUserRecord } from '../../src/auth/user-record.ts';
import { addUser, listUsers, readUsersFile, removeUser, setUserPassword, writeUsersFile } from '../../src/auth/users-file.ts';

let dir = '';
let hash = '';
let n = 0;
const fresh = () => join(dir, `users-${++n}.json`);

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fileshare-auth-'));
  hash = await hashPassword('pw');
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejectsCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, FileShareError);
    assert.is((err as FileShareError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

function throwsCode(fn: () => unknown, code: string, label = ''): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, FileShareError, label);
    assert.is((err as FileShareError).code, code, label);
    return;
  }
  assert.unreachable(`expected ${code} ${label}`);
}

test('parseUserRecord normalizes home and drops duplicate permissions', () => {
  assert.equal(parseUserRecord('a', { passwordHash: hash, home: './alice/', permissions: ['read', 'read', 'write'] }), {
    passwordHash: hash,
    home: 'alice',
    permissions: ['read', 'write'],
  });
  assert.equal(parseUserRecord('a', { passwordHash: hash, home: '' }), { passwordHash: hash });
  assert.equal(parseUserRecord('a', { passwordHash: hash, home: 'teams//red', quotaBytes: 0 }), {
    passwordHash: hash,
    home: 'teams/red',
    quotaBytes: 0,
  });
});

test('parseUserRecord refuses bad records with EINVAL', () => {
  const cases: Array<[string, unknown]> = [
    ['not an object', 'x'],
    ['null', null],
    ['array', [hash]],
    ['no hash', {}],
    ['numeric hash', { passwordHash: 42 }],
    ['plain text hash', { passwordHash: 'secret' }],
    ['unknown permission', { passwordHash: hash, permissions: ['read', 'root'] }],
    ['permissions not an array', { passwordHash: hash, permissions: 'read' }],
    ['home ..', { passwordHash: hash, home: '..' }],
    ['home a/../b', { passwordHash: hash, home: 'a/../b' }],
    ['absolute home', { passwordHash: hash, home: '/etc' }],
    ['drive home', { passwordHash: hash, home: 'C:/x' }],
    ['backslash home', { passwordHash: hash, home: 'a\\b' }],
    ['NUL in home', { passwordHash: hash, home: 'a\0b' }],
    ['numeric home', { passwordHash: hash, home: 1 }],
    ['negative quota', { passwordHash: hash, quotaBytes: -1 }],
    ['fractional max size', { passwordHash: hash, maxFileSize: 1.5 }],
    ['string quota', { passwordHash: hash, quotaBytes: '10' }],
    ['misspelt field', { passwordHash: hash, permisions: ['admin'] }],
  ];
  for (const [label, value] of cases) throwsCode(() => parseUserRecord('alice', value), 'EINVAL', label);
  throwsCode(() => parseUserRecord('.alice', { passwordHash: hash }), 'EINVAL', 'bad name');
});

test('"admin" in a record\'s permissions grants nothing and is dropped; the record loads', async () => {
  assert.equal(parseUserRecord('admin', { passwordHash: hash, permissions: ['read', 'write', 'delete', 'admin'] }), {
    passwordHash: hash,
    permissions: ['read', 'write', 'delete'],
  });
  assert.equal(parseUserRecord('carol', { passwordHash: hash, permissions: ['admin'] }).permissions, []);
  const path = fresh();
  await writeFile(path, JSON.stringify({ users: { admin: { passwordHash: hash, permissions: ['read', 'write', 'delete', 'admin'] } } }));
  assert.equal(await readUsersFile(path), { admin: { passwordHash: hash, permissions: ['read', 'write', 'delete'] } });
});

test('write then read round trip; the file is 0600 and no temp file is left', async () => {
  const path = fresh();
  const users = {
    alice: { passwordHash: hash, home: 'alice', permissions: ['read' as const, 'write' as const] },
    bob: { passwordHash: hash },
  };
  await writeUsersFile(path, users);
  assert.equal(await readUsersFile(path), users);
  assert.equal(JSON.parse(await readFile(path, 'utf8')), { users });
  if (process.platform !== 'win32') assert.is((await stat(path)).mode & 0o777, 0o600);
  assert.equal(
    (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
    [],
  );
  await writeUsersFile(path, { bob: { passwordHash: hash } });
  assert.equal(Object.keys(await readUsersFile(path)), ['bob']);
});

test('readUsersFile: missing is ENOENT, bad JSON and bad documents are EINVAL', async () => {
  await rejectsCode(readUsersFile(join(dir, 'nope.json')), 'ENOENT');
  const bad: Array<[string, string]> = [
    ['truncated JSON', '{"users": {"alice": {"passwordHash": "'],
    ['empty file', ''],
    ['array document', '[]'],
    ['users not an object', '{"users": []}'],
    ['unknown top-level field', JSON.stringify({ users: {}, extra: 1 })],
    ['bad permission', JSON.stringify({ users: { alice: { passwordHash: hash, permissions: ['read', 'sudo'] } } })],
    ['home with ..', JSON.stringify({ users: { alice: { passwordHash: hash, home: '../bob' } } })],
    ['bad username', JSON.stringify({ users: { 'a b': { passwordHash: hash } } })],
  ];
  for (const [label, text] of bad) {
    const path = fresh();
    await writeFile(path, text);
    try {
      await readUsersFile(path);
      assert.unreachable(label);
    } catch (err) {
      assert.instance(err, FileShareError, label);
      assert.is((err as FileShareError).code, 'EINVAL', label);
    }
  }
});

test('writeUsersFile refuses an invalid record and leaves the file as it was', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  const before = await readFile(path, 'utf8');
  await rejectsCode(writeUsersFile(path, { alice: { passwordHash: hash, home: '/abs' } }), 'EINVAL');
  assert.is(await readFile(path, 'utf8'), before);
});

test('a user named __proto__ is a plain entry, not a prototype', async () => {
  const path = fresh();
  await writeFile(path, `{"users": {"__proto__": {"passwordHash": "${hash}"}}}`);
  const users = await readUsersFile(path);
  assert.equal(Object.keys(users), ['__proto__']);
  assert.is(Object.getPrototypeOf(users), Object.prototype);
});

test('addUser creates the file, refuses duplicates, validates before hashing', async () => {
  const path = fresh();
  await addUser(path, 'alice', 'alice-pw', { home: 'alice', permissions: ['read'], quotaBytes: 5000 });
  await rejectsCode(addUser(path, 'alice', 'other'), 'EEXIST');
  await rejectsCode(addUser(path, '.bad', 'pw'), 'EINVAL');
  await rejectsCode(addUser(path, 'bob', 'pw', { home: '../x' }), 'EINVAL');
  await rejectsCode(addUser(path, 'bob', 'pw', { permissions: ['fly' as 'read'] }), 'EINVAL');
  await rejectsCode(addUser(path, 'bob', ''), 'EINVAL');
  try {
    await addUser(path, 'bob', 'pw', { cost: 4 });
    assert.unreachable('cost 4');
  } catch (err) {
    assert.instance(err, TypeError);
  }
  const users = await readUsersFile(path);
  assert.equal(Object.keys(users), ['alice']);
  assert.equal({ ...users.alice, passwordHash: '' }, { passwordHash: '', home: 'alice', permissions: ['read'], quotaBytes: 5000 });
  assert.ok(await verifyPassword('alice-pw', users.alice!.passwordHash));
});

test('list, passwd and remove', async () => {
  const path = fresh();
  await writeUsersFile(path, {
    zoe: { passwordHash: hash, home: 'z', maxFileSize: 100 },
    bob: { passwordHash: hash, permissions: ['read'] },
  });
  assert.equal(await listUsers(path), [
    { username: 'bob', permissions: ['read'] },
    { username: 'zoe', home: 'z', permissions: ['read', 'write', 'delete'], maxFileSize: 100 },
  ]);

  await setUserPassword(path, 'zoe', 'new-pw');
  const zoe = (await readUsersFile(path)).zoe!;
  assert.equal({ ...zoe, passwordHash: '' }, { passwordHash: '', home: 'z', maxFileSize: 100 });
  assert.ok(await verifyPassword('new-pw', zoe.passwordHash));
  assert.is(await verifyPassword('pw', zoe.passwordHash), false);
  assert.equal(Object.keys(await readUsersFile(path)), ['zoe', 'bob'], 'order kept');
  await rejectsCode(setUserPassword(path, 'nobody', 'pw'), 'ENOENT');

  await removeUser(path, 'bob');
  assert.equal(
    (await listUsers(path)).map((u) => u.username),
    ['zoe'],
  );
  await rejectsCode(removeUser(path, 'bob'), 'ENOENT');
  await rejectsCode(removeUser(join(dir, 'missing.json'), 'bob'), 'ENOENT');
  await rejectsCode(listUsers(join(dir, 'missing.json')), 'ENOENT');
});

test('concurrent edits of one file are serialized: no update is lost', async () => {
  const path = fresh();
  await writeUsersFile(path, { alice: { passwordHash: hash } });
  await Promise.all([addUser(path, 'bob', 'pw'), removeUser(path, 'alice'), addUser(path, 'carol', 'pw')]);
  assert.equal(Object.keys(await readUsersFile(path)).sort(), ['bob', 'carol']);
});

test.run();
