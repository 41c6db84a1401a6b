/**
 * Behaviour specific to the S3 backend, against a real S3 API (Ceph radosgw in CI): key mapping,
 * paging of large folders, the sweeper of abandoned multipart uploads, the create-if-absent claim,
 * and timeouts against an endpoint that never answers.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { normalizeRemotePath } from '../../src/index.ts';
import { S3Storage } from '../../src/storage/s3/index.ts';
import { childName, INTERNAL_PREFIX, normalizePrefix } from '../../src/storage/s3/keys.ts';
import { TEMP_PREFIX } from '../../src/storage/temp-names.ts';
import { defer, dispose, rejects } from '../core/helpers.ts';
import { missingService, s3Settings } from '../services/env.ts';
import { allKeys, pendingUploads, putObjects, s3Storage } from '../services/s3.ts';

test.after.each(dispose);

test('keys: the internal prefix is one no client path can name; prefixes are normalised; odd listed keys are hidden', () => {
  assert.is(INTERNAL_PREFIX, TEMP_PREFIX);
  assert.throws(
    () => normalizeRemotePath(`/${INTERNAL_PREFIX}s3-state/claims/x`),
    (e: { code?: string }) => e.code === 'EACCES',
  );
  assert.is(normalizePrefix(undefined), '');
  assert.is(normalizePrefix('/'), '');
  assert.is(normalizePrefix('a//b/'), 'a/b/');
  assert.throws(() => normalizePrefix('../x'));
  assert.is(childName('p/', 'p/a.txt'), 'a.txt');
  assert.is(childName('p/', 'p/dir/'), 'dir');
  for (const key of ['p//', 'p/./', 'p/../', `p/${INTERNAL_PREFIX}x`, 'q/a', 'p/a/b']) assert.is(childName('p/', key), null, key);
});

test('requestTimeout: an endpoint that accepts but never answers fails calls with ETIMEDOUT', async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  defer(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => silent.close(() => r(undefined)));
  });
  const { port } = silent.address() as net.AddressInfo;
  const storage = new S3Storage({
    bucket: 'b',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    requestTimeout: 300,
  });
  defer(() => storage.client.destroy());
  await rejects(storage.stat('/x'), 'ETIMEDOUT');
  await rejects(storage.list('/'), 'ETIMEDOUT');
});

test('options are checked', () => {
  assert.throws(() => new S3Storage({ bucket: '' }), TypeError);
  assert.throws(() => new S3Storage({ bucket: 'b', partSize: 1024 }), TypeError);
  assert.throws(() => new S3Storage({ bucket: 'b', concurrency: 0 }), TypeError);
  assert.throws(() => new S3Storage({ bucket: 'b', listPageSize: 0 }), TypeError);
  assert.throws(() => new S3Storage({ bucket: 'b', listPageSize: 1001 }), TypeError);
});

const s3 = s3Settings();
if (!s3) {
  missingService('S3', 'storage/s3.test.ts');
} else {
  test('a prefix keeps every key under it; scope() nests it', async () => {
    const made = await s3Storage(s3, { prefix: 'tenant/one' });
    defer(made.remove);
    const home = await made.storage.scope('/alice');
    const up = await home.openUpload('/f.txt');
    up.stream.end('x');
    await new Promise((r) => up.stream.on('finish', r));
    await up.commit();
    assert.equal((await allKeys(made.client, made.bucket)).sort(), ['tenant/one/alice/', 'tenant/one/alice/f.txt']);
    assert.equal(
      (await made.storage.list('/')).map((e) => e.name),
      ['alice'],
    );
  });

  test('list pages through a folder of 250 keys in pages of 100 (listPageSize); entries() yields page by page', async () => {
    const made = await s3Storage(s3, { listPageSize: 100 });
    defer(made.remove);
    const names = Array.from({ length: 250 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    await putObjects(
      s3,
      made.client,
      made.bucket,
      names.map((n) => [`big/${n}`, n] as const),
    );
    const listed = await made.storage.list('/big');
    assert.is(listed.length, 250);
    assert.equal(
      listed.map((e) => e.name),
      names,
    );
    let pages = 0;
    for await (const page of made.storage.entries('/big')) {
      pages++;
      assert.ok(page.length <= 100);
    }
    assert.ok(pages >= 3, `expected at least 3 pages, got ${pages}`);
    assert.is(
      await made.storage.usage('/big'),
      names.reduce((s, n) => s + n.length, 0),
    );
  });

  test('sweep aborts multipart uploads with no progress for the TTL, never one running in this process', async () => {
    const made = await s3Storage(s3, { partSize: 5 * 1024 * 1024 });
    defer(made.remove);
    const { client, bucket, storage } = made;
    // an upload abandoned by a dead node: created, one part, never completed
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'dead.bin' }));
    await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'dead.bin', UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024) }),
    );
    // an upload running here, past its first part
    const live = await storage.openUpload('/live.bin');
    live.stream.write(Buffer.alloc(6 * 1024 * 1024));
    const waitForUploads = async (n: number) => {
      for (let i = 0; i < 100 && (await pendingUploads(client, bucket)).length !== n; i++) await new Promise((r) => setTimeout(r, 100));
    };
    await waitForUploads(2);
    assert.is((await pendingUploads(client, bucket)).length, 2);
    assert.is(await storage.sweep({ abandonedTtlMs: 0, resumableTtlMs: 0 }), 1);
    const left = await pendingUploads(client, bucket);
    assert.equal(
      left.map((u) => u.Key),
      ['live.bin'],
    );
    // a recent one survives a sweep with a long TTL
    assert.is(await storage.sweep({ abandonedTtlMs: 3_600_000, resumableTtlMs: 3_600_000 }), 0);
    live.stream.end();
    await new Promise((r) => live.stream.on('finish', r));
    await live.commit();
    assert.is((await storage.stat('/live.bin')).size, 6 * 1024 * 1024);
    assert.equal(await pendingUploads(client, bucket), []);
    assert.equal(
      (await allKeys(client, bucket)).filter((k) => k.includes('claims')),
      [],
      'the claim was released',
    );
  });

  test('overwrite: false holds although radosgw ignores If-None-Match on Complete: a held claim refuses, a stale one is taken over', async () => {
    // LastModified has a 1 s resolution, so a claim may look up to 1 s older than it is: the TTL
    // leaves the blocked commit below several seconds to see the planted claim as held
    const made = await s3Storage(s3, { claimTtl: 5000 });
    defer(made.remove);
    const { storage } = made;
    const first = await storage.openUpload('/f.bin');
    const second = await storage.openUpload('/f.bin');
    first.stream.end(Buffer.alloc(6 * 1024 * 1024, 1));
    second.stream.end(Buffer.alloc(6 * 1024 * 1024, 2));
    await Promise.all([new Promise((r) => first.stream.on('finish', r)), new Promise((r) => second.stream.on('finish', r))]);
    await first.commit();
    await rejects(second.commit(), 'EEXIST');
    await second.abort();
    // a claim left by a node that died while committing is taken over once stale
    const claimKey = `${INTERNAL_PREFIX}s3-state/claims/`;
    const { createHash } = await import('node:crypto');
    const key = `${claimKey}${createHash('sha256').update('g.bin').digest('hex')}`;
    await made.client.send(new PutObjectCommand({ Bucket: made.bucket, Key: key, Body: 'g.bin' }));
    const blocked = await storage.openUpload('/g.bin');
    blocked.stream.end('x');
    await new Promise((r) => blocked.stream.on('finish', r));
    await rejects(blocked.commit(), 'EEXIST');
    await blocked.abort();
    await new Promise((r) => setTimeout(r, 6100)); // past claimTtl, whatever the rounding of LastModified
    const later = await storage.openUpload('/g.bin');
    later.stream.end('y');
    await new Promise((r) => later.stream.on('finish', r));
    await later.commit();
    const read = await storage.openRead('/g.bin');
    const chunks: Buffer[] = [];
    for await (const c of read.stream) chunks.push(c as Buffer);
    assert.is(Buffer.concat(chunks).toString(), 'y');
    assert.equal(await pendingUploads(made.client, made.bucket), []);
  });

  test('openRead serves any offset with a ranged GET; past the end is EINVAL', async () => {
    const made = await s3Storage(s3);
    defer(made.remove);
    const up = await made.storage.openUpload('/r.txt');
    Readable.from([Buffer.from('0123456789')]).pipe(up.stream);
    await new Promise((r) => up.stream.on('finish', r));
    await up.commit();
    const read = await made.storage.openRead('/r.txt', { offset: 7 });
    const chunks: Buffer[] = [];
    for await (const c of read.stream) chunks.push(c as Buffer);
    assert.is(Buffer.concat(chunks).toString(), '789');
    assert.is(read.size, 10);
    assert.ok(read.version);
    assert.is((await made.storage.openRead('/r.txt', { offset: 10 })).size, 10);
    await rejects(made.storage.openRead('/r.txt', { offset: 11 }), 'EINVAL');
  });
}

test.run();
