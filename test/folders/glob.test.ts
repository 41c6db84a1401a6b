/** Glob matching, and expansion against a live server's tree. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { globMatcher, globRemote, hasGlob, matchesGlob } from '../../src/index.ts';
import { dispose, rejects, testServer } from '../core/helpers.ts';

test.after.each(dispose);

test('*, ?, [...], ** and {a,b} as in bash; * stays within a component', () => {
  assert.ok(matchesGlob('a.log', '*.log'));
  assert.not.ok(matchesGlob('dir/a.log', '*.log'));
  assert.ok(matchesGlob('dir/a.log', '**/*.log'));
  assert.ok(matchesGlob('a.log', '**/*.log'));
  assert.ok(matchesGlob('x/y/z/a.log', 'x/**/a.log'));
  assert.ok(matchesGlob('f1.txt', 'f?.txt'));
  assert.not.ok(matchesGlob('f12.txt', 'f?.txt'));
  assert.ok(matchesGlob('f3.txt', 'f[0-4].txt'));
  assert.not.ok(matchesGlob('f5.txt', 'f[0-4].txt'));
  assert.ok(matchesGlob('f5.txt', 'f[!0-4].txt'));
  assert.ok(matchesGlob('a.png', '*.{png,jpg}'));
  assert.not.ok(matchesGlob('.hidden', '*'));
  assert.ok(matchesGlob('.hidden', '*', { dot: true }));
  assert.ok(matchesGlob('A.LOG', '*.log', { nocase: true }));
  assert.ok(matchesGlob('naïve 日本.txt', '*日本*'));
  const m = globMatcher(['*.tmp', 'build/**'], { matchBase: true });
  assert.ok(m('deep/down/x.tmp'));
  assert.ok(m('build/a/b'));
  assert.not.ok(m('src/build/a'));
  assert.ok(hasGlob('*.log') && hasGlob('a[bc]') && hasGlob('{a,b}') && !hasGlob('plain.txt') && !hasGlob('esc\\*aped'));
  assert.throws(() => globMatcher(''), TypeError);
});

test('globRemote expands against the server tree, listing only what the pattern can reach', async () => {
  const t = await testServer();
  for (const rel of ['a.log', 'b.log', 'c.txt', 'logs/2024/x.log', 'logs/2024/y.txt', 'logs/z.log', 'other/w.log']) {
    await fsp.mkdir(path.dirname(path.join(t.root, rel)), { recursive: true });
    await fsp.writeFile(path.join(t.root, rel), rel);
  }
  const client = await t.connect();
  const paths = async (pattern: string, cwd?: string) => (await globRemote(client, pattern, cwd)).map((m) => m.path);
  assert.equal(await paths('*.log'), ['/a.log', '/b.log']);
  assert.equal(await paths('/logs/**/*.log'), ['/logs/2024/x.log', '/logs/z.log']);
  assert.equal(await paths('*.log', '/logs'), ['/logs/z.log']);
  assert.equal(await paths('*/*.log'), ['/logs/z.log', '/other/w.log']);
  assert.equal(await paths('c.txt'), ['/c.txt']);
  assert.equal(await paths('nothing*'), []);
  const entry = (await globRemote(client, 'logs'))[0]!.entry;
  assert.is(entry.type, 'directory');
  await rejects(globRemote(client, '/missing/*.log'), 'ENOENT');
  const controller = new AbortController();
  controller.abort();
  await rejects(globRemote(client, '**', '/', { signal: controller.signal }), 'EABORTED');
});

test.run();
