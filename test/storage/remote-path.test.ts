import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileShareErrorCode } from '../../src/errors.ts';
import {
  joinRemote,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  MAX_PATH_DEPTH,
  normalizeRemotePath,
  remoteBasename,
  remoteDirname,
} from '../../src/storage/remote-path.ts';
import { isTempName, makeTempName, TEMP_PREFIX, truncateUtf8 } from '../../src/storage/temp-names.ts';
import { throws } from './fixtures.ts';

const valid: Array<[string, string]> = [
  ['/', '/'],
  ['.', '/'],
  ['./', '/'],
  ['//', '/'],
  ['///', '/'],
  ['/.', '/'],
  ['a', '/a'],
  ['/a', '/a'],
  ['/a/', '/a'],
  ['a/./b//c/', '/a/b/c'],
  ['//a//b//', '/a/b'],
  ['/a/b/..', '/a'],
  ['/a/b/../', '/a'],
  ['/a/..', '/'],
  ['a/..', '/'],
  ['/a/../b', '/b'],
  ['/a/b/../../c', '/c'],
  ['a/b/c/../../../d/./e', '/d/e'],
  ['/./a/./', '/a'],
  ['/...', '/...'],
  ['/..a/b..', '/..a/b..'],
  ['/a b/ c ', '/a b/ c '],
  ['/back\\slash', '/back\\slash'],
  ['/..\\..\\etc', '/..\\..\\etc'],
  ['C:/Windows', '/C:/Windows'],
  ['/ünïcødé/日本語.txt', '/ünïcødé/日本語.txt'],
  ['/.hidden', '/.hidden'],
  ['/.fileshare-part', '/.fileshare-part'],
  ['/x.fileshare-part-1', '/x.fileshare-part-1'],
  ['/etc/passwd', '/etc/passwd'],
  [`/${'n'.repeat(MAX_NAME_BYTES)}`, `/${'n'.repeat(MAX_NAME_BYTES)}`],
];

for (const [input, expected] of valid) {
  test(`normalizeRemotePath(${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}...` : input)}) is ${expected.length > 40 ? 'long' : expected}`, () => {
    assert.is(normalizeRemotePath(input), expected);
    assert.is(normalizeRemotePath(normalizeRemotePath(input)), expected, 'idempotent');
  });
}

const invalid: Array<[string, FileShareErrorCode]> = [
  ['..', 'EACCES'],
  ['../', 'EACCES'],
  ['/..', 'EACCES'],
  ['../../etc/passwd', 'EACCES'],
  ['/../etc/passwd', 'EACCES'],
  ['/a/../../b', 'EACCES'],
  ['a/b/../../..', 'EACCES'],
  ['/a/./../..', 'EACCES'],
  ['//..//..', 'EACCES'],
  ['/./../a', 'EACCES'],
  [`/${TEMP_PREFIX}0123456789abcdef-a.txt`, 'EACCES'],
  [`/dir/${TEMP_PREFIX}x`, 'EACCES'],
  [`${TEMP_PREFIX}x/..`, 'EACCES'],
  [`/${TEMP_PREFIX}`, 'EACCES'],
  ['', 'EINVAL'],
  ['\0', 'EINVAL'],
  ['/a\0b', 'EINVAL'],
  ['/a.txt\0.png', 'EINVAL'],
  ['/\0/..', 'EINVAL'],
  ['/bad\uD800surrogate', 'EINVAL'],
  [`/${'n'.repeat(MAX_NAME_BYTES + 1)}`, 'EINVAL'],
  [`/${'é'.repeat(128)}`, 'EINVAL'], // 256 bytes in UTF-8
  [`/${'a/'.repeat(MAX_PATH_BYTES / 2)}`, 'EINVAL'], // 4097 bytes
  [`/${'d/'.repeat(MAX_PATH_DEPTH)}x`, 'EINVAL'], // 129 components
];

for (const [input, code] of invalid) {
  test(`normalizeRemotePath(${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}...` : input)}) throws ${code}`, () => {
    throws(() => normalizeRemotePath(input), code);
  });
}

test('a path of exactly MAX_PATH_BYTES is accepted', () => {
  const input = `/${'a'.repeat(254)}`.repeat(16) + `/${'b'.repeat(15)}`;
  assert.is(Buffer.byteLength(input), MAX_PATH_BYTES);
  assert.is(normalizeRemotePath(input).length, MAX_PATH_BYTES);
});

test('a path of exactly MAX_PATH_DEPTH components is accepted; the depth counts after . and ..', () => {
  const deepest = `/${Array.from({ length: MAX_PATH_DEPTH }, () => 'd').join('/')}`;
  assert.is(normalizeRemotePath(deepest), deepest);
  assert.is(normalizeRemotePath(`${deepest}/x/..`), deepest);
  assert.is(normalizeRemotePath(`${deepest}/./`), deepest);
});

test('a non-string is EINVAL', () => {
  throws(() => normalizeRemotePath(undefined as unknown as string), 'EINVAL');
  throws(() => normalizeRemotePath(42 as unknown as string), 'EINVAL');
});

test('a valid surrogate pair is accepted', () => {
  assert.is(normalizeRemotePath('/emoji-😀'), '/emoji-😀');
});

const joins: Array<[string, string, string]> = [
  ['/', 'a', '/a'],
  ['/a', 'b.txt', '/a/b.txt'],
  ['/a/', 'b', '/a/b'],
  ['a', 'b/c', '/a/b/c'],
  ['/a', '/b', '/a/b'],
  ['/a', '..', '/'],
  ['/a/b', '../c', '/a/c'],
  ['/a', '.', '/a'],
];
for (const [dir, name, expected] of joins) {
  test(`joinRemote(${JSON.stringify(dir)}, ${JSON.stringify(name)}) is ${expected}`, () => {
    assert.is(joinRemote(dir, name), expected);
  });
}

test('joinRemote refuses to climb out, NUL bytes and temporary names', () => {
  throws(() => joinRemote('/', '..'), 'EACCES');
  throws(() => joinRemote('/a', '../../b'), 'EACCES');
  throws(() => joinRemote('/a', 'b\0'), 'EINVAL');
  throws(() => joinRemote('/a', `${TEMP_PREFIX}1`), 'EACCES');
});

const names: Array<[string, string, string]> = [
  ['/', '', '/'],
  ['/a', 'a', '/'],
  ['/a/b.txt', 'b.txt', '/a'],
  ['a/b/c/', 'c', '/a/b'],
  ['/a/b/..', 'a', '/'],
];
for (const [input, base, dir] of names) {
  test(`remoteBasename / remoteDirname of ${JSON.stringify(input)}`, () => {
    assert.is(remoteBasename(input), base);
    assert.is(remoteDirname(input), dir);
  });
}

test('remoteBasename and remoteDirname validate', () => {
  throws(() => remoteBasename('/..'), 'EACCES');
  throws(() => remoteDirname('\0'), 'EINVAL');
});

test('temporary names: prefix, random part, truncated basename', () => {
  const name = makeTempName('report.pdf');
  assert.ok(isTempName(name));
  assert.match(name, /^\.fileshare-part-[0-9a-f]{16}-report\.pdf$/);
  assert.is.not(makeTempName('report.pdf'), name);
  const long = makeTempName('é'.repeat(127)); // 254 bytes
  assert.ok(Buffer.byteLength(long) <= MAX_NAME_BYTES);
  assert.ok(!long.includes('\uFFFD'));
  assert.ok(!isTempName('report.pdf'));
  assert.ok(!isTempName('x.fileshare-part-'));
});

test('truncateUtf8 never splits a character', () => {
  assert.is(truncateUtf8('abc', 10), 'abc');
  assert.is(truncateUtf8('abcdef', 3), 'abc');
  assert.is(truncateUtf8('aé', 2), 'a');
  assert.is(truncateUtf8('😀😀', 5), '😀');
});

test.run();
