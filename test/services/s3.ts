/**
 * Buckets of the test S3 API (settings from ./env.ts): a fresh bucket per test or file, removed
 * with everything in it, and the listings tests check S3Storage's objects with.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3Storage, type S3StorageOptions } from '../../src/storage/s3/index.ts';
import type { S3Settings } from './env.ts';

/** An SDK client for the test S3 API. */
export function s3Client(settings: S3Settings): S3Client {
  return new S3Client({
    ...settings,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { requestTimeout: 30_000, connectionTimeout: 5_000 },
  });
}

/** A fresh bucket (random name: test files run in parallel against one cluster) and a way to empty and remove it. */
export async function freshBucket(
  settings: S3Settings,
  label = 't',
): Promise<{ bucket: string; client: S3Client; remove: () => Promise<void> }> {
  const client = s3Client(settings);
  const bucket = `fs-${label}-${randomBytes(6).toString('hex')}`.toLowerCase().slice(0, 63);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    client,
    remove: async () => {
      try {
        await emptyBucket(client, bucket);
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        client.destroy();
      }
    },
  };
}

/** Every key in a bucket (all prefixes). */
export async function allKeys(client: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Multipart uploads in progress in a bucket. */
export async function pendingUploads(client: S3Client, bucket: string): Promise<{ Key?: string; UploadId?: string }[]> {
  const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return page.Uploads ?? [];
}

async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  for (const u of await pendingUploads(client, bucket)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => {});
  }
  const keys = await allKeys(client, bucket);
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
  }
}

/** An S3Storage over a fresh bucket; `remove` empties and deletes the bucket. */
export async function s3Storage(
  settings: S3Settings,
  options: Partial<S3StorageOptions> = {},
): Promise<{ storage: S3Storage; client: S3Client; bucket: string; remove: () => Promise<void> }> {
  const fresh = await freshBucket(settings);
  const storage = new S3Storage({
    bucket: fresh.bucket,
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: settings.credentials,
    ...options,
  });
  return {
    storage,
    client: fresh.client,
    bucket: fresh.bucket,
    remove: async () => {
      storage.client.destroy();
      await fresh.remove();
    },
  };
}

/**
 * Put many small objects into `bucket` (`keys`, each with its body), the setup of the listing
 * tests: the bucket is made writable without credentials (a canned ACL, public-read-write) and the
 * objects are sent as plain HTTP PUTs, 32 at a time over kept-alive connections. Through the SDK
 * (its middleware and a SigV4 signature per request) each put was about 2 ms of CPU, a thousand of
 * them most of a listing test's CPU; the listing itself, the subject of those tests, still goes
 * through S3Storage and the SDK, signed.
 */
export async function putObjects(
  settings: S3Settings,
  client: S3Client,
  bucket: string,
  objects: readonly (readonly [key: string, body: string])[],
): Promise<void> {
  await client.send(new PutBucketAclCommand({ Bucket: bucket, ACL: 'public-read-write' }));
  const endpoint = new URL(settings.endpoint);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const put = ([key, body]: readonly [string, string]) =>
    new Promise<void>((resolve, reject) => {
      const request = http.request(
        {
          host: endpoint.hostname,
          port: endpoint.port,
          method: 'PUT',
          path: `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
          agent,
          headers: { 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode === 200) resolve();
            else reject(new Error(`PUT ${key}: HTTP ${response.statusCode}`));
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  try {
    for (let i = 0; i < objects.length; i += 32) await Promise.all(objects.slice(i, i + 32).map(put));
  } finally {
    agent.destroy();
  }
}
