/**
 * Two stateless FileShareServer nodes (separate processes) over one S3 bucket and one
 * PostgreSQL database: a client's upload through node A survives A being SIGKILLed and is resumed
 * through node B with a matching SHA-256; files written through A are served by B; failed logins
 * on one node throttle the other; expired uploads are swept until nothing is left in the bucket.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { FileShareClient, FileShareError } from '../../src/index.ts';
import { PostgresAuthProvider } from '../../src/postgres/index.ts';
import { S3Storage } from '../../src/storage/s3/index.ts';
import { defer, dispose, rejects, tempDir, waitFor, within } from '../core/helpers.ts';
import { nodeEntry } from '../node-entry.ts';
import { allKeys, freshBucket, missingService, pendingUploads, pgUrl, s3Settings } from '../services/env.ts';

test.after.each(dispose);

const MiB = 1024 * 1024;
const s3 = s3Settings();
const url = pgUrl();

interface Node {
  readonly port: number;
  readonly child: ChildProcess;
}

async function startNode(settings: object): Promise<Node> {
  const child = spawn(process.execPath, [...nodeEntry(new URL('./node.ts', import.meta.url)), JSON.stringify(settings)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  defer(() => {
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

async function login(node: Node, username = 'alice', password = 'alice-pw'): Promise<FileShareClient> {
  const client = new FileShareClient({ host: '127.0.0.1', port: node.port, progressIntervalMs: 0 });
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

if (!s3) missingService('S3', 'cluster/two-nodes.test.ts');
else if (!url) missingService('PostgreSQL', 'cluster/two-nodes.test.ts');
else {
  test('two nodes, one bucket, one database: SIGKILL mid-upload, resume on the other node; shared files and throttle; nothing left after the sweep', async () => {
    const bucket = await freshBucket(s3, 'cluster');
    defer(bucket.remove);
    const pool = new pg.Pool({ connectionString: url, max: 3 });
    const schema = `c_${randomBytes(5).toString('hex')}`;
    defer(async () => {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await pool.end();
    });
    const users = new PostgresAuthProvider({ pool, schema });
    await users.addUser('alice', { password: 'alice-pw', home: 'alice' });
    await users.addUser('bob', { password: 'bob-pw', home: 'bob' });
    const settings = { s3, bucket: bucket.bucket, pgUrl: url, schema };
    const a = await startNode(settings);
    const b = await startNode(settings);

    // written through A, listed and downloaded through B
    const onA = await login(a);
    await onA.upload(Readable.from([Buffer.from('from node A')]), '/hello.txt');
    const onB = await login(b);
    assert.equal(
      (await onB.list('/')).map((e) => e.name),
      ['hello.txt'],
    );
    assert.is((await download(onB, '/hello.txt')).toString(), 'from node A');

    // a resumable upload through A; A is SIGKILLed once it saved the state of a finished part
    const local = await tempDir();
    const data = randomBytes(96 * MiB + 11);
    await writeFile(`${local}/big.bin`, data);
    let killed = false;
    let watching = false;
    const killOnceSaved = async () => {
      for (let i = 0; i < 500 && !killed; i++) {
        if ((await allKeys(bucket.client, bucket.bucket)).some((k) => k.includes('s3-state/uploads/'))) {
          killed = true;
          a.child.kill('SIGKILL');
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
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
    await waitFor(() => a.child.exitCode !== null || a.child.signalCode !== null, 10_000, 'node A to die');
    assert.is((await pendingUploads(bucket.client, bucket.bucket)).length, 1, 'the kept parts of the upload');

    // resumed through B: EBUSY until A's lock is stale (A cannot release it: it is dead)
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
      async () => (await allKeys(bucket.client, bucket.bucket)).every((k) => !k.includes('s3-state/locks/')),
      20_000,
      'its lock to be released',
    );
    const sweeper = new S3Storage({ bucket: bucket.bucket, ...s3 });
    defer(() => sweeper.client.destroy());
    assert.is(await sweeper.sweep({ resumableTtlMs: 0, abandonedTtlMs: 0 }), 1);
    assert.equal(await pendingUploads(bucket.client, bucket.bucket), []);
    assert.equal((await allKeys(bucket.client, bucket.bucket)).sort(), ['alice/', 'alice/big.bin', 'alice/hello.txt']);
    // last (it throttles 127.0.0.1 for everyone): a brute force on one node is throttled on the
    // other (A restarted: nodes are stateless)
    const a2 = await startNode(settings);
    for (let i = 0; i < 3; i++) {
      const c = new FileShareClient({ host: '127.0.0.1', port: a2.port });
      defer(() => c.close());
      await c.connect();
      await rejects(c.login('bob', `guess-${i}`), 'EAUTH');
    }
    const onB2 = new FileShareClient({ host: '127.0.0.1', port: b.port });
    defer(() => onB2.close());
    await onB2.connect();
    await rejects(onB2.login('bob', 'bob-pw'), 'ETHROTTLED');
  });
}

test.run();
