/**
 * Two stateless FileShareServer nodes (separate processes) over one S3 bucket and one
 * PostgreSQL database: a client's upload through node A survives A being SIGKILLed and is resumed
 * through node B with a matching SHA-256; files written through A are served by B; failed logins
 * on one node throttle the other; expired uploads are swept until nothing is left in the bucket;
 * the resume lock is a row in PostgreSQL (B refuses an upload A holds); one user's quota holds
 * across both nodes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { FileShareClient, FileShareError, type ResumeToken } from '../../src/index.ts';
import { PostgresAuthProvider } from '../../src/postgres/index.ts';
import { S3Storage } from '../../src/storage/s3/index.ts';
import { defer, dispose, randomData, rejects, tempDir, waitFor, within } from '../core/helpers.ts';
import { nodeEntry } from '../node-entry.ts';
import { missingService, pgUrl, s3Settings } from '../services/env.ts';
import { allKeys, freshBucket, pendingUploads } from '../services/s3.ts';

test.after.each(dispose);

const MiB = 1024 * 1024;
const s3 = s3Settings();
const url = pgUrl();

interface Node {
  readonly port: number;
  readonly child: ChildProcess;
}

/** Start a node; `cleanup` registers its SIGKILL (after this test by default). */
async function startNode(settings: object, cleanup: (fn: () => unknown) => void = defer): Promise<Node> {
  const child = spawn(process.execPath, [...nodeEntry(new URL('./node.ts', import.meta.url)), JSON.stringify(settings)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  cleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await within(
    new Promise<number>((resolve, reject) => {
      lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`the node exited (${code}) before listening`)));
    }),
    30_000,
    'the node to listen',
  );
  return { port, child };
}

async function login(node: Node, username = 'alice', password = 'alice-pw', port = node.port): Promise<FileShareClient> {
  const client = new FileShareClient({ host: '127.0.0.1', port, progressIntervalMs: 0 });
  defer(() => client.close());
  await client.connect();
  await client.login(username, password);
  return client;
}

async function download(client: FileShareClient, remote: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.download(
    remote,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * A TCP relay to `node` on 127.0.0.1 that passes the first `budget` bytes each client sends, then
 * holds the rest (a link that stalls): an upload through it is still running on the node, whatever
 * the speed of the machine, until the node dies, which ends the client's connection too.
 * Resolves to the relay's port.
 */
async function stallingRelay(node: Node, budget: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect(node.port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let left = budget;
    client.on('data', (chunk: Buffer) => {
      if (left === 0) return;
      upstream.write(chunk.subarray(0, left));
      left -= Math.min(left, chunk.length);
      if (left === 0) client.pause();
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  defer(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  return (relay.address() as net.AddressInfo).port;
}

/**
 * A fresh bucket and database schema, removed after the test (or whenever `cleanup` says), with the
 * users table of the nodes and the settings that start a node over them (one resumption key for
 * both nodes).
 */
async function clusterFixture(label: string, cleanup: (fn: () => unknown) => void = defer) {
  const bucket = await freshBucket(s3!, label);
  cleanup(bucket.remove);
  const pool = new pg.Pool({ connectionString: url!, max: 3 });
  const schema = `c_${randomBytes(5).toString('hex')}`;
  cleanup(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
  });
  const users = new PostgresAuthProvider({ pool, schema });
  const settings = { s3: s3!, bucket: bucket.bucket, pgUrl: url!, schema, resumeKey: randomBytes(32).toString('hex') };
  return { bucket, pool, schema, users, settings };
}

/** What the file's last test removes: the fixture and nodes that the later tests share. */
const afterFile: (() => unknown)[] = [];
const later = (fn: () => unknown) => void afterFile.push(fn);
type SharedCluster = Awaited<ReturnType<typeof startSharedCluster>>;
let sharedCluster: Promise<SharedCluster> | undefined;

/**
 * One bucket, one schema and two nodes A and B for the quota, token and throttle tests, which need
 * a pair but not one each: they use users of their own (carol, dave, bob) and leave no upload
 * behind. The first test hands over its cluster (B and the restarted A); started afresh only when
 * that test did not get so far. A node process is most of a second of CPU (the S3 SDK, pg and the
 * server to load).
 */
function sharedNodes(): Promise<SharedCluster> {
  sharedCluster ??= startSharedCluster();
  return sharedCluster;
}

async function startSharedCluster() {
  const fixture = await clusterFixture('shared', later);
  const [a, b] = await Promise.all([startNode(fixture.settings, later), startNode(fixture.settings, later)]);
  return { ...fixture, a, b };
}

test.after(async () => {
  for (const fn of afterFile.reverse()) await Promise.resolve(fn()).catch(() => {});
});

if (!s3) missingService('S3', 'cluster/two-nodes.test.ts');
else if (!url) missingService('PostgreSQL', 'cluster/two-nodes.test.ts');
else {
  test('two nodes, one bucket, one database: SIGKILL mid-upload, resume on the other node; shared files; nothing left after the sweep', async () => {
    // kept for the later tests (see sharedNodes), with B and a restarted A
    const fixture = await clusterFixture('cluster', later);
    const { bucket, pool, schema, users, settings } = fixture;
    await users.addUser('alice', { password: 'alice-pw', home: 'alice' });
    const a = await startNode(settings);
    const b = await startNode(settings, later);

    // written through A, listed and downloaded through B. The client of A goes through a relay
    // that stalls after 8 MiB: the resumable upload below has then saved its first part (5 MiB)
    // and cannot end before A is stopped
    const onA = await login(a, 'alice', 'alice-pw', await stallingRelay(a, 8 * MiB));
    await onA.upload(Readable.from([Buffer.from('from node A')]), '/hello.txt');
    const onB = await login(b);
    assert.equal(
      (await onB.list('/')).map((e) => e.name),
      ['hello.txt'],
    );
    assert.is((await download(onB, '/hello.txt')).toString(), 'from node A');

    // a resumable upload through A. Once A saved the state of a finished part it is stopped
    // (SIGSTOP: it still holds the upload): B refuses the same upload; then A is SIGKILLed
    const local = await tempDir();
    // three parts of 5 MiB and a short fourth: past the relay's 8 MiB and the cut at 11 MiB below
    const data = randomData(16 * MiB + 11);
    await writeFile(`${local}/big.bin`, data);
    const early = await login(b);
    let killed = false;
    let watching = false;
    let refusedOnB: unknown;
    let lockRows = -1;
    let lockObjects: string[] = [];
    const killOnceSaved = async () => {
      // every 50 ms (a signed listing each time) for at most 25 s: A cannot finish meanwhile (the
      // relay holds it), so a later look only stops it a little later
      for (let i = 0; i < 500 && !killed; i++) {
        const keys = await allKeys(bucket.client, bucket.bucket);
        if (keys.some((k) => k.includes('s3-state/uploads/'))) {
          killed = true;
          a.child.kill('SIGSTOP');
          try {
            // the lock is a row in PostgreSQL, not an object in the bucket
            lockRows = (await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_resume_locks WHERE expires_at > now()`))
              .rows[0].n;
            lockObjects = keys.filter((k) => k.includes('s3-state/locks/'));
            await early.upload(`${local}/big.bin`, '/big.bin', { resume: true });
          } catch (err) {
            refusedOnB = err;
          }
          a.child.kill('SIGKILL');
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const attempt = onA.upload(`${local}/big.bin`, '/big.bin', {
      resume: true,
      onProgress: () => {
        if (!watching) {
          watching = true;
          void killOnceSaved();
        }
      },
    });
    await rejects(within(attempt, 60_000, 'the upload through A'), 'ECLOSED');
    assert.ok(killed);
    assert.is(lockRows, 1, 'the resume lock of the upload running on A');
    assert.equal(lockObjects, [], 'no lock object in the bucket: the lock is shared through PostgreSQL');
    assert.is((refusedOnB as FileShareError | undefined)?.code, 'EBUSY', `B took the upload A holds: ${String(refusedOnB)}`);
    await waitFor(() => a.child.exitCode !== null || a.child.signalCode !== null, 10_000, 'node A to die');
    assert.is((await pendingUploads(bucket.client, bucket.bucket)).length, 1, 'the kept parts of the upload');

    // resumed through B: EBUSY until A's lock lapses (A cannot release it: it is dead)
    const resumer = await login(b);
    let result: Awaited<ReturnType<FileShareClient['upload']>> | undefined;
    let firstProgress = -1;
    for (let i = 0; i < 40 && !result; i++) {
      try {
        result = await within(
          resumer.upload(`${local}/big.bin`, '/big.bin', {
            resume: true,
            onProgress: (p) => void (firstProgress < 0 && (firstProgress = p.bytes)),
          }),
          60_000,
          'the resumed upload',
        );
      } catch (err) {
        if (!(err instanceof FileShareError) || err.code !== 'EBUSY') throw err;
        firstProgress = -1;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(result, 'the upload never resumed on B');
    assert.is(result!.sha256, sha256(data));
    assert.ok(firstProgress >= 5 * MiB, `resumed from ${firstProgress}: the kept parts were not used`);
    assert.is(sha256(await download(onB, '/big.bin')), sha256(data));

    // an interrupted resumable upload left on the bucket is removed once expired
    const again = await login(b);
    let cut = false;
    const interrupted = again.upload(`${local}/big.bin`, '/second.bin', {
      resume: true,
      onProgress: (p) => {
        if (!cut && p.bytes >= 11 * MiB) {
          cut = true;
          void again.close();
        }
      },
    });
    await rejects(within(interrupted, 60_000, 'the interrupted upload'), 'ECLOSED');
    await waitFor(async () => (await pendingUploads(bucket.client, bucket.bucket)).length === 1, 20_000, 'the kept upload');
    await waitFor(
      async () => (await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_resume_locks`)).rows[0].n === 0,
      20_000,
      'its lock to be released',
    );
    const sweeper = new S3Storage({ bucket: bucket.bucket, ...s3 });
    defer(() => sweeper.client.destroy());
    assert.is(await sweeper.sweep({ resumableTtlMs: 0, abandonedTtlMs: 0 }), 1);
    assert.equal(await pendingUploads(bucket.client, bucket.bucket), []);
    assert.equal((await allKeys(bucket.client, bucket.bucket)).sort(), ['alice/', 'alice/big.bin', 'alice/hello.txt']);
    // A restarted (nodes are stateless): with B, the pair of the later tests
    const a2 = await startNode(settings, later);
    sharedCluster ??= Promise.resolve({ ...fixture, a: a2, b });
  });

  test("two nodes: one user's quota holds across both under parallel uploads, and a failed upload gives its room back", async () => {
    const { bucket, pool, schema, users, a, b } = await sharedNodes();
    await users.addUser('carol', { password: 'carol-pw', home: 'carol', quotaBytes: 8 * MiB });
    const clients = [await login(a, 'carol', 'carol-pw'), await login(b, 'carol', 'carol-pw')];
    const stored = async () => {
      const page = await bucket.client.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: 'carol/' }));
      return (page.Contents ?? []).reduce((sum, o) => sum + (o.Size ?? 0), 0);
    };

    // four streams of unknown size, 3 MiB each, two through each node: two fit in 8 MiB
    const streams = await Promise.allSettled([0, 1, 2, 3].map((i) => clients[i % 2]!.upload(slowStream(3 * MiB), `/s${i}.bin`)));
    const codes = streams.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as FileShareError).code)).sort();
    assert.equal(codes, ['EQUOTA', 'EQUOTA', 'ok', 'ok']);
    assert.is(await stored(), 6 * MiB);

    // announced sizes at once through both nodes: 2 MiB is left (the failed streams gave theirs back)
    const announced = await Promise.allSettled([0, 1].map((i) => clients[i]!.upload(slowStream(2 * MiB), `/a${i}.bin`, { size: 2 * MiB })));
    assert.equal(announced.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as FileShareError).code)).sort(), ['EQUOTA', 'ok']);
    assert.is(await stored(), 8 * MiB);
    await rejects(clients[1]!.upload(slowStream(1), '/full.bin', { size: 1 }), 'EQUOTA');
    // room freed on one node is free on the other
    const kept = (await clients[0]!.list('/')).find((e) => /^s\d\.bin$/.test(e.name))!;
    await clients[0]!.delete(`/${kept.name}`);
    await clients[1]!.upload(slowStream(3 * MiB), '/after-delete.bin', { size: 3 * MiB });
    assert.is((await pool.query(`SELECT count(*)::int AS n FROM ${schema}.fileshare_quota_holders`)).rows[0].n, 0);
  });
}

if (s3 && url) {
  test('two nodes: a token issued by A resumes on B; a password or permission change refuses earlier tokens on both', async () => {
    const { users, a, b } = await sharedNodes();
    await users.addUser('dave', { password: 'dave-pw', home: 'dave' });
    const resumeOn = async (node: Node, token: ResumeToken) => {
      const client = new FileShareClient({ host: '127.0.0.1', port: node.port });
      defer(() => client.close());
      await client.connect();
      return client.resume(token);
    };

    const first = (await login(a, 'dave', 'dave-pw')).resumeToken!;
    assert.ok(first, 'a token from the login on A');
    assert.is((await resumeOn(b, first)).username, 'dave', 'the token of A resumes on B');
    assert.is((await resumeOn(a, first)).username, 'dave');

    // a new password (here through the users table, as the server app's `user --database` does)
    await users.setPassword('dave', 'dave-new-pw');
    await rejects(resumeOn(a, first), 'EAUTH');
    await rejects(resumeOn(b, first), 'EAUTH');

    const second = (await login(b, 'dave', 'dave-new-pw')).resumeToken!;
    assert.is((await resumeOn(a, second)).username, 'dave');
    // fewer permissions: every earlier token is refused, on both nodes
    await users.addUser('dave', { password: 'dave-new-pw', home: 'dave', permissions: ['read'] }, { replace: true });
    await rejects(resumeOn(a, second), 'EAUTH');
    await rejects(resumeOn(b, second), 'EAUTH');
    const third = await login(a, 'dave', 'dave-new-pw');
    assert.equal((await resumeOn(b, third.resumeToken!)).permissions, ['read']);
    // a removed user resumes nowhere
    await users.removeUser('dave');
    await rejects(resumeOn(b, third.resumeToken!), 'EAUTH');
  });
}

if (s3 && url) {
  // last (it throttles 127.0.0.1 for everyone): a brute force on one node is throttled on the other
  test('two nodes: failed logins on one node throttle the other', async () => {
    const { users, a, b } = await sharedNodes();
    await users.addUser('bob', { password: 'bob-pw', home: 'bob' });
    for (let i = 0; i < 3; i++) {
      const c = new FileShareClient({ host: '127.0.0.1', port: a.port });
      defer(() => c.close());
      await c.connect();
      await rejects(c.login('bob', `guess-${i}`), 'EAUTH');
    }
    const onB = new FileShareClient({ host: '127.0.0.1', port: b.port });
    defer(() => onB.close());
    await onB.connect();
    await rejects(onB.login('bob', 'bob-pw'), 'ETHROTTLED');
  });
}

/** A stream of unannounced size: `bytes` in 128 KiB chunks, a little slow so that uploads overlap. */
function slowStream(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(128 * 1024, left);
      left -= n;
      setTimeout(() => this.push(randomData(n)), 5);
    },
  });
}

test.run();
