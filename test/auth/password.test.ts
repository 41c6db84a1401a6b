import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError } from '../../src/errors.ts';
import { hashPassword, verifyPassword } from '../../src/auth/password.ts';

async function rejects(promise: Promise<unknown>, check: (err: unknown) => void): Promise<void> {
  try {
    await promise;
  } catch (err) {
    check(err);
    return;
  }
  assert.unreachable('expected a rejection');
}

const isCode = (code: string) => (err: unknown) => {
  assert.instance(err, FileShareError);
  assert.is((err as FileShareError).code, code);
};

const isTypeError = (err: unknown) => assert.instance(err, TypeError);

const MAX = 'x'.repeat(72);
let hash = '';
let maxHash = '';

test.before(async () => {
  hash = await hashPassword('correct horse');
  maxHash = await hashPassword(MAX);
});

test('a hash is bcrypt with cost 10 by default, and verifies', async () => {
  assert.match(hash, /^\$2[ab]\$10\$[./A-Za-z0-9]{53}$/);
  assert.ok(await verifyPassword('correct horse', hash));
});

test('two hashes of the same password differ (random salt)', async () => {
  assert.is.not(hash, maxHash);
  assert.ok(maxHash.startsWith('$2b$10$') || maxHash.startsWith('$2a$10$'));
});

test('a wrong password does not verify', async () => {
  assert.is(await verifyPassword('correct horsE', hash), false);
});

test('a malformed hash gives false, never an exception', async () => {
  for (const bad of ['', 'not-a-hash', '$2b$10$short', `$2x$10$${'a'.repeat(53)}`, `$2b$99$${'a'.repeat(53)}`, hash.slice(0, -1)]) {
    assert.is(await verifyPassword('correct horse', bad), false, bad);
  }
  assert.is(await verifyPassword('correct horse', undefined as unknown as string), false);
  assert.is(await verifyPassword(42 as unknown as string, hash), false);
});

test('72 bytes is accepted; a longer password never verifies against its truncation', async () => {
  assert.ok(await verifyPassword(MAX, maxHash));
  assert.is(await verifyPassword(`${MAX}y`, maxHash), false);
});

test('empty and over-72-byte passwords are EINVAL', async () => {
  await rejects(hashPassword(''), isCode('EINVAL'));
  await rejects(hashPassword(`${MAX}x`), isCode('EINVAL'));
  // 25 three-byte characters: 25 code units but 75 bytes in UTF-8.
  await rejects(hashPassword('€'.repeat(25)), isCode('EINVAL'));
  await rejects(hashPassword(undefined as unknown as string), isCode('EINVAL'));
});

test('a cost below 10, fractional, above 31 or not a number is a TypeError', async () => {
  for (const cost of [4, 9, 10.5, 32, Number.NaN, '12']) {
    await rejects(hashPassword('pw', { cost: cost as number }), isTypeError);
  }
});

test.run();
