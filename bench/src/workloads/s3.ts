/**
 * S3: throughput of an upload and a download of one big file (256 MiB; 16 MiB with --quick)
 * through fileshare serving from a bucket (`S3Storage`, default part size and concurrency) and
 * through the AWS SDK alone (multipart by hand, a GetObject stream), against the same S3 API in the
 * same run. The API comes from FILESHARE_TEST_S3_ENDPOINT / _REGION / _ACCESS_KEY / _SECRET_KEY
 * (scripts/services/ceph-rgw.sh writes them); without them the workload is skipped with a message.
 * A fresh bucket per run of the workload, emptied after every transfer pair and removed at the
 * end: radosgw's memory store hangs writes once it is full. The download reads back what the
 * upload wrote, so its SHA-256 checks both. MB = 10^6 bytes.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { makeRandomFile, removeFiles, verifyCopy } from '../files.ts';
import type { S3Target, TransferResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { mbPerSecond } from '../stats.ts';
import { transferTimeoutMs, withServer } from './context.ts';
import type { Workload } from './context.ts';

export const S3_UPLOAD: Metric = { workload: 's3', name: 'upload MB/s', unit: 'MB/s', better: 'higher' };
export const S3_DOWNLOAD: Metric = { ...S3_UPLOAD, name: 'download MB/s' };
/** fileshare's median over the SDK's median, same run. */
export const S3_UPLOAD_RATIO: Metric = { workload: 's3', name: 'upload x SDK', unit: 'x', better: 'higher' };
export const S3_DOWNLOAD_RATIO: Metric = { ...S3_UPLOAD_RATIO, name: 'download x SDK' };

const FILESHARE_ID = 's3-fileshare';
const SDK_ID = 's3-sdk';

/** The S3 API of the environment, or why there is none. */
export function s3FromEnv(): Omit<S3Target, 'bucket'> | string {
  const endpoint = process.env.FILESHARE_TEST_S3_ENDPOINT;
  if (!endpoint) {
    return 'FILESHARE_TEST_S3_ENDPOINT is not set (start radosgw with `scripts/services/ceph-rgw.sh start DIR`, then `set -a; . DIR/env; set +a`)';
  }
  return {
    endpoint,
    region: process.env.FILESHARE_TEST_S3_REGION ?? 'us-east-1',
    accessKeyId: process.env.FILESHARE_TEST_S3_ACCESS_KEY ?? '',
    secretAccessKey: process.env.FILESHARE_TEST_S3_SECRET_KEY ?? '',
  };
}

/** Delete every object and multipart upload in `bucket`. */
async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => {});
  }
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

export const s3: Workload = {
  id: 's3',
  title: 'Throughput of one big file over S3',
  budgetMs: (config, systems) => config.runs * systems * (2 * transferTimeoutMs(config.s3Size) + 60_000) + 60_000,
  async run(ctx, systems) {
    const api = s3FromEnv();
    if (typeof api === 'string') {
      ctx.log(`s3: skipped: ${api}`);
      return;
    }
    const client = new S3Client({
      endpoint: api.endpoint,
      region: api.region,
      credentials: { accessKeyId: api.accessKeyId, secretAccessKey: api.secretAccessKey },
      forcePathStyle: true,
      requestHandler: { requestTimeout: 30_000, connectionTimeout: 5_000 },
    });
    const bucket = `fileshare-bench-${randomBytes(4).toString('hex')}`;
    const target: S3Target = { ...api, bucket };
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      ctx.log(`s3: ${api.endpoint}, bucket ${bucket}; writing a ${ctx.config.s3Size} byte random file`);
      const file = await makeRandomFile(path.join(ctx.tmp, 's3-source.bin'), ctx.config.s3Size);
      const received = path.join(ctx.tmp, 'client', 's3-down.bin');
      const timeout = 2 * transferTimeoutMs(file.size);
      for (let run = 1; run <= ctx.config.runs; run++) {
        for (const system of systems) {
          ctx.log(`s3 ${system.id} run ${run}/${ctx.config.runs}`);
          try {
            await withServer(
              ctx,
              system,
              timeout,
              async (session) => {
                const { results } = await session.runClient(
                  [
                    { kind: 'upload', local: file.path, remote: '/up.bin' },
                    { kind: 'download', remote: '/up.bin', local: received },
                  ],
                  timeout,
                );
                const [up, down] = results as TransferResult[];
                if (up === undefined || down === undefined) throw new Error('no result');
                const bad =
                  (await verifyCopy(received, file)) ??
                  ([up, down].some((r) => r.sha256 !== undefined && r.sha256 !== file.sha256)
                    ? 'the system reported a wrong SHA-256'
                    : undefined);
                if (bad !== undefined) throw new Error(bad);
                ctx.recorder.add(S3_UPLOAD, system.id, mbPerSecond(up.bytes, up.seconds));
                ctx.recorder.add(S3_DOWNLOAD, system.id, mbPerSecond(down.bytes, down.seconds));
              },
              { s3: target },
            );
          } catch (error) {
            ctx.recorder.error('s3', system.id, error);
          } finally {
            await removeFiles(received);
            await emptyBucket(client, bucket).catch((error: unknown) => ctx.recorder.error('s3', system.id, error));
          }
        }
      }
      for (const [metric, ratio] of [
        [S3_UPLOAD, S3_UPLOAD_RATIO],
        [S3_DOWNLOAD, S3_DOWNLOAD_RATIO],
      ] as const) {
        const ours = ctx.recorder.summary(metric, FILESHARE_ID)?.median;
        const sdk = ctx.recorder.summary(metric, SDK_ID)?.median;
        if (ours !== undefined && sdk !== undefined && sdk > 0) ctx.recorder.add(ratio, FILESHARE_ID, ours / sdk);
      }
    } finally {
      await emptyBucket(client, bucket).catch(() => {});
      await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
      client.destroy();
    }
  },
};
