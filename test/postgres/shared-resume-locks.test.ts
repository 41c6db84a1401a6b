/**
 * Resume locks shared through PostgreSQL (PostgresSharedState.resumeLocks): while a resumable
 * upload runs on node A (here: its connection froze, so A still holds it), node B refuses the same
 * upload with EBUSY; a newer attempt on A itself takes over; a lock whose node stopped renewing
 * lapses after the lease and can then be taken.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { PostgresSharedState } from '../../src/postgres/index.ts';
import {
  defer,
  dispose,
  makeFile,
  rejects,
  relay,
  sha256File,
  tempDir,
  tempFiles,
  testServer,
  waitFor,
  within,
} from '../hardening/helpers.ts';
import { missingService, pgUrl } from '../services/env.ts';

test.after.each(dispose);

const url = pgUrl();
const MiB = 1024 * 1024;

async function freshSchema(): Promise<{ pool: pg.Pool; schema: string }> {
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  const schema = `l_${randomBytes(5).toString('hex')}`;
  defer(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  });
  return { pool, schema };
}

const locks = async (pool: pg.Pool, schema: string) =>
  (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.fileshare_resume_locks WHERE expires_at > now()`)).rows[0]!.n;

if (!url) {
  missingService('PostgreSQL', 'postgres/shared-resume-locks.test.ts');
} else {
  test('node A holds a resumable upload: node B refuses it with EBUSY; a newer attempt on A takes over and finishes', async () => {
    const { pool, schema } = await freshSchema();
    const root = await tempDir();
    const start = async () => {
      const shared = new PostgresSharedState({ pool: url!, schema, leaseTtl: 1500 });
      defer(() => shared.close());
      return testServer({ server: { root, sharedState: shared }, client: { progressIntervalMs: 0 } });
    };
    const a = await start();
    const b = await start();
    const local = await tempDir();
    const file = await makeFile(path.join(local, 'up.bin'), 10 * MiB);

    // through a relay that freezes: A still holds the upload (the connection looks alive to it)
    const network = await relay(a.port);
    const viaRelay = new FileShareClient({ host: '127.0.0.1', port: network.port, progressIntervalMs: 0 });
    defer(() => viaRelay.close());
    await viaRelay.connect();
    await viaRelay.login('alice', 'alice-password');
    const stop = new AbortController();
    let frozen = false;
    const first = viaRelay.upload(file, '/up.bin', {
      resume: true,
      signal: stop.signal,
      onProgress: (p) => {
        if (!frozen && p.bytes >= 2 * MiB) {
          frozen = true;
          network.freeze();
          setTimeout(() => stop.abort(), 50);
        }
      },
    });
    await rejects(within(first, 10_000, 'the frozen upload'), 'EABORTED');
    assert.is(await locks(pool, schema), 1, 'the lock of the upload A runs');

    // B (another node) refuses, and keeps refusing past the lease: A renews it
    const onB = await b.connect();
    await rejects(onB.upload(file, '/up.bin', { resume: true }), 'EBUSY');
    await new Promise((r) => setTimeout(r, 2000));
    await rejects(onB.upload(file, '/up.bin', { resume: true }), 'EBUSY');

    // a newer attempt on A (the client reconnected): it takes over, continues and finishes
    const onA = await a.connect();
    let firstProgress = -1;
    const done = await within(
      onA.upload(file, '/up.bin', { resume: true, onProgress: (p) => void (firstProgress < 0 && (firstProgress = p.bytes)) }),
      20_000,
      'the upload taken over on A',
    );
    assert.is(done.sha256, await sha256File(file));
    assert.ok(firstProgress > 0, 'the kept data was not used');
    await waitFor(async () => (await locks(pool, schema)) === 0, 5000, 'the lock to be released');
    assert.equal(await tempFiles(root), []);
  });

  test('a lock whose node stopped renewing lapses after the lease; a released lock is free at once', async () => {
    const { pool, schema } = await freshSchema();
    const dead = new PostgresSharedState({ pool, schema, leaseTtl: 800 });
    const alive = new PostgresSharedState({ pool, schema, leaseTtl: 800 });
    defer(() => alive.close());
    const key = 'ab'.repeat(20);
    assert.ok(await dead.resumeLocks.acquire(key));
    await dead.close(); // stops renewing, as a SIGKILLed node would
    assert.is(await alive.resumeLocks.acquire(key), null, 'taken while the lease runs');
    await waitFor(async () => (await alive.resumeLocks.acquire(key).then((l) => l && (l.release(), true))) === true, 10_000, 'the lapse');
    await waitFor(async () => (await locks(pool, schema)) === 0, 5000, 'the release');
    const held = await alive.resumeLocks.acquire(key);
    assert.ok(held);
    await new Promise((r) => setTimeout(r, 1500)); // renewed past the lease
    const other = new PostgresSharedState({ pool, schema, leaseTtl: 800 });
    defer(() => other.close());
    assert.is(await other.resumeLocks.acquire(key), null);
    await held!.release();
    assert.ok(await other.resumeLocks.acquire(key));
  });

  test('the database is down: resumable uploads fail with EIO before any data, plain ones go on', async () => {
    const shared = new PostgresSharedState({ pool: 'postgres://postgres@127.0.0.1:1/none', migrate: false, queryTimeout: 2000 });
    defer(() => shared.close());
    const t = await testServer({ server: { sharedState: { resumeLocks: shared.resumeLocks } } });
    const local = await tempDir();
    const file = await makeFile(path.join(local, 'r.bin'), 64 * 1024);
    const client = await t.connect();
    await rejects(client.upload(file, '/r.bin', { resume: true }), 'EIO');
    assert.equal(await tempFiles(t.root), [], 'nothing written for the refused upload');
    const plain = await client.upload(file, '/plain.bin');
    assert.is(plain.sha256, await sha256File(file));
  });
}

test.run();
