/**
 * Quota reservations shared through PostgreSQL (PostgresSharedState.quotas) by two servers over
 * one folder, each with its own PostgresSharedState as two nodes would have: one user's quota
 * holds across both under parallel uploads, failed uploads give their room back, a holder of a
 * node that died lapses, and a database that is down fails uploads of users with a quota (EIO).
 */
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError } from '../../src/index.ts';
import { PostgresSharedState } from '../../src/postgres/index.ts';
import { defer, dispose, failure, randomData, rejects, tempDir, testServer, waitFor } from '../core/helpers.ts';
import { missingService, pgUrl } from '../services/env.ts';

test.after.each(dispose);

const url = pgUrl();
const KiB = 1024;
const MiB = 1024 * KiB;

async function freshSchema(): Promise<{ pool: pg.Pool; schema: string }> {
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  const schema = `q_${randomBytes(5).toString('hex')}`;
  defer(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  });
  return { pool, schema };
}

/** A stream of unannounced size: `bytes` in 128 KiB chunks, a little slow so that uploads overlap. */
function slowStream(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(128 * KiB, left);
      left -= n;
      setTimeout(() => this.push(randomData(n)), 5);
    },
  });
}

/** Bytes of the files under `dir` (the user's home), temp files included. */
async function bytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(`${entry.parentPath}/${entry.name}`)).size;
  }
  return total;
}

/** Two nodes over one folder and one database; alice has a quota of `quota` bytes. */
async function twoNodes(quota: number) {
  const { pool, schema } = await freshSchema();
  const root = await tempDir();
  const users = { alice: { password: 'alice-pw', home: 'alice', quotaBytes: quota } };
  const nodes = [];
  for (let i = 0; i < 2; i++) {
    // no lease here is meant to lapse: a TTL well above a starved process's pauses (a loaded CI
    // machine) keeps a live holder from expiring mid-upload, which would read as EIO, not EQUOTA
    const shared = new PostgresSharedState({ pool: url!, schema, leaseTtl: 10_000 });
    defer(() => shared.close());
    const t = await testServer({ users, server: { root, sharedState: shared } });
    nodes.push(t);
  }
  return { pool, schema, root, home: `${root}/alice`, a: nodes[0]!, b: nodes[1]! };
}

if (!url) {
  missingService('PostgreSQL', 'postgres/shared-quotas.test.ts');
} else {
  test('announced sizes: uploads through A and B at once never exceed the quota together', async () => {
    const { a, b, home, pool, schema } = await twoNodes(8 * MiB);
    const onA = await a.connect('alice', 'alice-pw');
    const onB = await b.connect('alice', 'alice-pw');
    const sizes = [5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB];
    const results = await Promise.allSettled(sizes.map((size, i) => (i % 2 ? onB : onA).upload(slowStream(size), `/f${i}.bin`, { size })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r.reason as FileShareError).code);
    assert.is(ok.length, 1, `one 5 MiB upload fits in 8 MiB, got ${ok.length}`);
    assert.equal(refused, ['EQUOTA', 'EQUOTA', 'EQUOTA']);
    assert.is(await bytesOnDisk(home), 5 * MiB);
    // the failed ones gave their room back: 3 MiB is free, on either node
    await onB.upload(slowStream(3 * MiB), '/fits.bin', { size: 3 * MiB });
    await rejects(onA.upload(slowStream(1), '/one-more.bin', { size: 1 }), 'EQUOTA');
    const holders = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_quota_holders`);
    assert.is(holders.rows[0].n, 0, 'no holder left once the uploads are over');
  });

  test('streams of unknown size through A and B: as many as fit succeed, the bytes stored never exceed the quota', async () => {
    const { a, b, home } = await twoNodes(8 * MiB);
    const clients = [await a.connect('alice', 'alice-pw'), await b.connect('alice', 'alice-pw')];
    let peak = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        peak = Math.max(peak, await bytesOnDisk(home).catch(() => 0));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const results = await Promise.allSettled([0, 1, 2, 3].map((i) => clients[i % 2]!.upload(slowStream(3 * MiB), `/s${i}.bin`)));
    watching = false;
    await watcher;
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const codes = results.filter((r) => r.status === 'rejected').map((r) => (r.reason as FileShareError).code);
    assert.is(ok, 2, `two 3 MiB streams fit in 8 MiB, ${ok} succeeded (${codes.join(', ')})`);
    assert.equal(codes, ['EQUOTA', 'EQUOTA']);
    assert.ok(peak <= 8 * MiB, `${peak} bytes were stored at once under an 8 MiB quota`);
    assert.is(await bytesOnDisk(home), 6 * MiB);
    // what the failed streams held is free again
    await clients[1]!.upload(slowStream(2 * MiB), '/rest.bin');
    await rejects(clients[0]!.upload(slowStream(1), '/over.bin'), 'EQUOTA');
  });

  test('a holder whose node stopped renewing lapses; until the account is measured again its room stays counted', async () => {
    const { pool, schema } = await freshSchema();
    const dead = new PostgresSharedState({ pool, schema, leaseTtl: 600 });
    const alive = new PostgresSharedState({ pool, schema, leaseTtl: 600 });
    defer(() => alive.close());
    const held = await dead.quotas.join('alice', async () => 1000);
    assert.ok(await held.reserve(800));
    await dead.close(); // stops renewing: as if its node died
    const other = await alive.quotas.join('alice', async () => 1000);
    assert.not.ok(await other.reserve(300), 'the dead holder still holds 800 of 1000');
    // a waiting stream is refused once the dead holder lapsed and nothing can give room back
    assert.is(await other.reserveUpTo(300, 300), false);
    await other.release(0);
    const rows = await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_quota_holders`);
    assert.is(rows.rows[0].n, 0);
    // the account has no holder left: the next join measures again
    const fresh = await alive.quotas.join('alice', async () => 1000);
    assert.ok(await fresh.reserve(1000));
    await fresh.release(0);
  });

  test('a waiting stream on one node gets the room a holder on the other node gives back', async () => {
    const { pool, schema } = await freshSchema();
    const nodeA = new PostgresSharedState({ pool, schema });
    const nodeB = new PostgresSharedState({ pool, schema });
    defer(() => nodeA.close());
    defer(() => nodeB.close());
    const first = await nodeA.quotas.join('bob', async () => 100);
    assert.ok(await first.reserve(90));
    const second = await nodeB.quotas.join('bob', async () => 0); // not measured: the account has a holder
    const waiting = second.reserveUpTo(50, 60);
    await new Promise((r) => setTimeout(r, 400));
    await first.release(40); // 40 stored, 50 given back
    assert.is(await waiting, 60);
    assert.is(await second.creditReplaced('/x', 10), 10);
    const third = await nodeA.quotas.join('bob', async () => 0);
    assert.is(await third.creditReplaced('/x', 10), 0, 'one credit per replaced file across the nodes');
    await Promise.all([second.release(60), third.release(0)]);
  });

  test('the database is down: uploads of a user with a quota fail with EIO, others go on', async () => {
    const shared = new PostgresSharedState({ pool: 'postgres://postgres@127.0.0.1:1/none', migrate: false, queryTimeout: 2000 });
    defer(() => shared.close());
    const t = await testServer({
      users: { alice: { password: 'alice-pw', quotaBytes: MiB }, bob: 'bob-pw' },
      server: { sharedState: { quotas: shared.quotas } },
    });
    const alice = await t.connect('alice', 'alice-pw');
    const err = await failure(alice.upload(Readable.from([Buffer.from('x')]), '/a.txt'));
    assert.is(err.code, 'EIO');
    const bob = await t.connect('bob', 'bob-pw');
    await bob.upload(Readable.from([Buffer.from('y')]), '/b.txt');
    await waitFor(async () => (await readdir(t.root)).includes('b.txt'));
    assert.not.ok((await readdir(t.root)).includes('a.txt'));
  });
}

test.run();
