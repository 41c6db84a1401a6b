import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as api from '../src/index.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

test('VERSION (announced in HELLO) matches package.json: scripts/sync-version.mjs keeps them in step', () => {
  assert.is(api.VERSION, pkg.version);
});

test('the library depends at run time on eventemitter3 and bcryptjs only', () => {
  assert.equal(Object.keys(pkg.dependencies ?? {}).sort(), ['bcryptjs', 'eventemitter3']);
});

test('the public API exports the documented names', () => {
  for (const name of ['FileShareServer', 'FileShareClient', 'FileShareError', 'MemoryAuthProvider', 'JsonFileAuthProvider', 'hashPassword', 'verifyPassword', 'LocalStorage', 'summarize', 'PROTOCOL_VERSION']) {
    assert.ok(name in api, `missing export ${name}`);
  }
});

test.run();
