/**
 * fileshare/postgres against a real PostgreSQL 15 (started by .ci/run): the migration, users in a
 * table through a real server and client, and the login throttle shared by two servers.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError } from '../../src/index.ts';
import { migrate, PostgresAuthProvider, PostgresSharedState, SCHEMA_VERSION } from '../../src/postgres/index.ts';
import { defer, dispose, rejects, testServer } from '../core/helpers.ts';
import { missingService, pgUrl } from '../services/env.ts';

test.after.each(dispose);

const url = pgUrl();

/** A fresh schema (test files run in parallel against one database), dropped after the test. */
async function freshSchema(): Promise<{ pool: pg.Pool; schema: string }> {
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  const schema = `t_${randomBytes(5).toString('hex')}`;
  defer(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  });
  return { pool, schema };
}

if (!url) {
  missingService('PostgreSQL', 'postgres/postgres.test.ts');
} else {
  test('migrate creates the tables once, also when several nodes run it at once', async () => {
    const { pool, schema } = await freshSchema();
    const versions = await Promise.all([1, 2, 3, 4].map(() => migrate(pool, { schema })));
    assert.equal(versions, [SCHEMA_VERSION, SCHEMA_VERSION, SCHEMA_VERSION, SCHEMA_VERSION]);
    const { rows } = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema]);
    assert.equal(
      rows.map((r) => r.table_name),
      [
        'fileshare_login_failures',
        'fileshare_quota_accounts',
        'fileshare_quota_holders',
        'fileshare_resume_locks',
        'fileshare_schema',
        'fileshare_users',
      ],
    );
    assert.is((await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_schema`)).rows[0].n, 1);
  });

  test('PostgresAuthProvider: users added to the table log in with their home, permissions and quota; wrong passwords and unknown users are EAUTH', async () => {
    const { pool, schema } = await freshSchema();
    const auth = new PostgresAuthProvider({ pool, schema });
    await auth.addUser('alice', { password: 'alice-pw', home: 'alice', quotaBytes: 1000, permissions: ['read', 'write'] });
    await auth.addUser('bob', { password: 'bob-pw' });
    await rejects(auth.addUser('bob', { password: 'again' }), 'EEXIST');
    await rejects(auth.addUser('../x', { password: 'p' }), 'EINVAL');
    await rejects(auth.addUser('carol', { password: 'p', home: '../etc' }), 'EINVAL');
    const row = (await pool.query(`SELECT password_hash FROM ${schema}.fileshare_users WHERE username = 'alice'`)).rows[0];
    assert.match(row.password_hash, /^\$2[aby]\$/);
    assert.equal(await auth.listUsers(), [
      { username: 'alice', home: 'alice', permissions: ['read', 'write'], quotaBytes: 1000 },
      { username: 'bob', permissions: ['read', 'write', 'delete'] },
    ]);
    const t = await testServer({ auth });
    const alice = await t.client();
    const { resumeToken, ...granted } = await alice.login('alice', 'alice-pw');
    assert.equal(granted, { username: 'alice', permissions: ['read', 'write'] });
    // lookup: the provider supports session resumption
    assert.is(resumeToken?.username, 'alice');
    assert.is((await (await t.client()).resume(resumeToken)).username, 'alice');
    await rejects(alice.delete('/x'), 'EACCES');
    const { Readable } = await import('node:stream');
    await rejects(alice.upload(Readable.from([Buffer.alloc(2000)]), '/big.bin', { size: 2000 }), 'EQUOTA');
    await rejects((await t.client()).login('alice', 'wrong'), 'EAUTH');
    await rejects((await t.client()).login('nobody', 'x'), 'EAUTH');
    await auth.setPassword('bob', 'new-pw');
    await rejects((await t.client()).login('bob', 'bob-pw'), 'EAUTH');
    await (await t.client()).login('bob', 'new-pw');
    assert.ok(await auth.removeUser('bob'));
    await rejects((await t.client()).login('bob', 'new-pw'), 'EAUTH');
    await rejects(auth.setPassword('bob', 'x'), 'ENOENT');
  });

  test('a database that is down makes logins fail with EIO, never succeed', async () => {
    const auth = new PostgresAuthProvider({ pool: 'postgres://postgres@127.0.0.1:1/none' });
    const t = await testServer({ auth });
    const err = await rejects((await t.client()).login('alice', 'pw'), 'EIO');
    assert.instance(err, FileShareError);
  });

  test('PostgresSharedState: failures on node A throttle the same user and address on node B', async () => {
    const { pool, schema } = await freshSchema();
    const auth = new PostgresAuthProvider({ pool, schema });
    await auth.addUser('alice', { password: 'alice-pw' });
    const shared = new PostgresSharedState({ pool, schema });
    const throttle = { freeAttempts: 3, baseDelayMs: 60_000, lockoutAfter: 10 };
    const a = await testServer({ auth, server: { sharedState: shared, loginThrottle: throttle } });
    const b = await testServer({ auth, server: { sharedState: shared, loginThrottle: throttle } });
    for (let i = 0; i < 3; i++) await rejects((await a.client()).login('alice', `guess-${i}`), 'EAUTH');
    // node B never saw a failure, yet refuses at once, even the right password
    await rejects((await b.client()).login('alice', 'alice-pw'), 'ETHROTTLED');
    await rejects((await a.client()).login('alice', 'alice-pw'), 'ETHROTTLED');
    const { rows } = await pool.query(`SELECT key, failures FROM ${schema}.fileshare_login_failures ORDER BY key`);
    assert.equal(
      rows.map((r) => [r.key, r.failures]),
      [
        ['a:127.0.0.1', 3],
        ['u:alice', 3],
      ],
    );
    // a success clears the records on every node (here: once the delay is over)
    await pool.query(`UPDATE ${schema}.fileshare_login_failures SET blocked_until = now()`);
    await (await b.client()).login('alice', 'alice-pw');
    assert.is((await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_login_failures`)).rows[0].n, 0);
  });
}

test.run();
