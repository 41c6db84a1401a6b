/**
 * The external services some tests need (a real S3 API, PostgreSQL), as .ci/run starts them
 * (scripts/services/*.sh; see docs/scaling.md). Their settings come from the environment:
 * FILESHARE_TEST_S3_ENDPOINT / _REGION / _ACCESS_KEY / _SECRET_KEY and FILESHARE_TEST_PG_URL.
 * Outside CI a test file whose service is absent is skipped with a message; in CI (CI=true) that
 * is a failure, so a broken service start can never pass as green.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3Storage, type S3StorageOptions } from '../../src/storage/s3/index.ts';

/** Connection settings of the test S3 API. */
export interface S3Settings {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
}

/** The test S3 API, or undefined when FILESHARE_TEST_S3_ENDPOINT is not set. */
export function s3Settings(): S3Settings | undefined {
  const endpoint = process.env.FILESHARE_TEST_S3_ENDPOINT;
  if (!endpoint) return undefined;
  return {
    endpoint,
    region: process.env.FILESHARE_TEST_S3_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: process.env.FILESHARE_TEST_S3_ACCESS_KEY ?? '',
      secretAccessKey: process.env.FILESHARE_TEST_S3_SECRET_KEY ?? '',
    },
  };
}

/** The test PostgreSQL URL, or undefined when FILESHARE_TEST_PG_URL is not set. */
export function pgUrl(): string | undefined {
  return process.env.FILESHARE_TEST_PG_URL || undefined;
}

/**
 * Call when a service a test file needs is absent: outside CI, say so and skip; in CI, register a
 * failing test. Returns true when the caller must not register its tests.
 */
export function missingService(name: 'S3' | 'PostgreSQL', file: string): boolean {
  const message = `${name} is not available (start it with scripts/services/${name === 'S3' ? 'ceph-rgw' : 'postgres'}.sh start DIR and export DIR/env)`;
  if (process.env.CI === 'true') {
    const missing = suite(`${name} service`);
    missing(`${file}: ${name} must be available in CI`, () => {
      throw new Error(message);
    });
    missing.run();
  } else {
    console.log(`  skipped ${file}: ${message}`);
  }
  return true;
}

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
