import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as api from '../src/index.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

test('VERSION (announced in HELLO) matches package.json: scripts/sync-version.mjs keeps them in step', () => {
  assert.is(api.VERSION, pkg.version);
});

// picomatch does the remote glob matching (a solved problem, not ours to rewrite); like the other
// two it has no dependencies of its own, so the install stays three small packages.
test('the library depends at run time on bcryptjs, eventemitter3 and picomatch only', () => {
  assert.equal(Object.keys(pkg.dependencies ?? {}).sort(), ['bcryptjs', 'eventemitter3', 'picomatch']);
  for (const name of Object.keys(pkg.dependencies)) {
    const own = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8'));
    assert.equal(Object.keys(own.dependencies ?? {}), [], `${name} has dependencies of its own`);
  }
});

test('the public API exports the documented names', () => {
  for (const name of [
    'FileShareServer',
    'FileShareClient',
    'FileShareError',
    'MemoryAuthProvider',
    'JsonFileAuthProvider',
    'hashPassword',
    'verifyPassword',
    'LocalStorage',
    'summarize',
    'PROTOCOL_VERSION',
  ]) {
    assert.ok(name in api, `missing export ${name}`);
  }
});

test.run();
