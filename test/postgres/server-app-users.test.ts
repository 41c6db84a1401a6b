/**
 * The server app's `user` commands with `--database`: users added to PostgreSQL from the command
 * line log in through a server that reads them from the same table.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PostgresAuthProvider } from '../../src/postgres/index.ts';
import { defer, dispose, rejects, testServer } from '../core/helpers.ts';
import { makeTempDir, removeDir, runApp } from '../examples/helpers/server-app.ts';
import { missingService, pgUrl } from '../services/env.ts';

test.after.each(dispose);

const url = pgUrl();
if (!url) {
  missingService('PostgreSQL', 'postgres/server-app-users.test.ts');
} else {
  test('user add / list / passwd / remove --database edit the users table; the server logs them in', async () => {
    // a database of its own: the app uses the public schema
    const admin = new pg.Pool({ connectionString: url, max: 1 });
    const name = `app_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${name}`);
    defer(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await admin.end();
    });
    const dbUrl = url.replace(/\/[^/]*$/, `/${name}`);
    const dir = await makeTempDir();
    defer(() => removeDir(dir));
    const run = (args: string[], input?: string) => runApp(['user', ...args, '--database', dbUrl], { cwd: dir, input, timeoutMs: 30_000 });

    const added = await run(['add', 'dora', '--home', 'dora', '--quota', '5M'], 'dora-password\n');
    assert.is(added.code, 0, added.stderr);
    assert.match(added.stdout, /added user dora to the database/);
    const again = await run(['add', 'dora'], 'x-password\n');
    assert.is.not(again.code, 0);
    assert.match(again.stderr, /already exists/);
    const listed = await run(['list']);
    assert.match(listed.stdout, /dora\s+\/dora\s+read,write,delete/);
    assert.match(listed.stdout, /quota/);

    const auth = new PostgresAuthProvider({ pool: dbUrl });
    defer(() => auth.close());
    const t = await testServer({ auth });
    const client = await t.client();
    assert.is((await client.login('dora', 'dora-password')).username, 'dora');

    assert.is((await run(['passwd', 'dora'], 'new-password\n')).code, 0);
    await rejects((await t.client()).login('dora', 'dora-password'), 'EAUTH');
    await (await t.client()).login('dora', 'new-password');
    assert.is((await run(['remove', 'dora'])).code, 0);
    await rejects((await t.client()).login('dora', 'new-password'), 'EAUTH');
    assert.ok(!existsSync(`${dir}/users.json`), 'no users file was written');
  });
}

test.run();
