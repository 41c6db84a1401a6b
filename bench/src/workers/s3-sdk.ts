/**
 * The baseline of the s3 workload: the AWS SDK alone against the same bucket, no fileshare in
 * between. There is no server process of ours (radosgw is the server): the server half only hands
 * the bucket to the clients. Uploads are multipart by hand with S3Storage's defaults (8 MiB parts,
 * 4 in flight, one PutObject below a part), as a user of `@aws-sdk/client-s3` would write them;
 * downloads are one GetObject streamed to the file, hashed on the way.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { S3Target, ServerConfig } from '../messages.ts';
import { runSystemWorker } from './runtime.ts';
import type { Connection, Driver, RunningServer } from './runtime.ts';

const PART_SIZE = 8 * 1024 * 1024;
const CONCURRENCY = 4;

async function startServer(config: ServerConfig): Promise<RunningServer> {
  if (!config.s3) throw new Error('s3-sdk: no bucket in the server config');
  return {
    port: 0,
    dataDir: config.root,
    hints: { s3: JSON.stringify(config.s3) },
    reportsEventLoop: false,
    close: async () => {},
  };
}

async function client(): Promise<Driver> {
  const sdk = await import('@aws-sdk/client-s3');
  return {
    maxInFlight: 1,
    pingDuringTransfer: false,
    async connect(config): Promise<Connection> {
      const target = JSON.parse(config.hints?.s3 ?? 'null') as S3Target | null;
      if (!target) throw new Error('s3-sdk: no bucket in the hints');
      const s3 = new sdk.S3Client({
        endpoint: target.endpoint,
        region: target.region,
        credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
        forcePathStyle: true,
        // as S3Storage: streamed bodies with the newer default checksums are refused by radosgw
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      const Bucket = target.bucket;
      const keyOf = (remote: string) => remote.replace(/^\/+/, '');
      return {
        async upload(local, remote) {
          const Key = keyOf(remote);
          const { size } = await stat(local);
          const file = await open(local, 'r');
          try {
            const readPart = async (offset: number, length: number) => {
              const buf = Buffer.allocUnsafe(length);
              const { bytesRead } = await file.read(buf, 0, length, offset);
              if (bytesRead !== length) throw new Error(`short read at ${offset}`);
              return buf;
            };
            if (size <= PART_SIZE) {
              await s3.send(new sdk.PutObjectCommand({ Bucket, Key, Body: await readPart(0, size), ContentLength: size }));
              return { bytes: size };
            }
            const { UploadId } = await s3.send(new sdk.CreateMultipartUploadCommand({ Bucket, Key }));
            const count = Math.ceil(size / PART_SIZE);
            const parts: { PartNumber: number; ETag: string | undefined }[] = [];
            let next = 0;
            try {
              const lane = async () => {
                while (next < count) {
                  const index = next++;
                  const offset = index * PART_SIZE;
                  const length = Math.min(PART_SIZE, size - offset);
                  const body = await readPart(offset, length);
                  const { ETag } = await s3.send(
                    new sdk.UploadPartCommand({ Bucket, Key, UploadId, PartNumber: index + 1, Body: body, ContentLength: length }),
                  );
                  parts[index] = { PartNumber: index + 1, ETag };
                }
              };
              await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, lane));
              await s3.send(new sdk.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
            } catch (error) {
              await s3.send(new sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => {});
              throw error;
            }
            return { bytes: size };
          } finally {
            await file.close();
          }
        },
        async download(remote, local) {
          const got = await s3.send(new sdk.GetObjectCommand({ Bucket, Key: keyOf(remote) }));
          const hash = createHash('sha256');
          let bytes = 0;
          const tap = new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              hash.update(chunk);
              bytes += chunk.length;
              callback(null, chunk);
            },
          });
          await pipeline(got.Body as Readable, tap, createWriteStream(local));
          return { bytes, sha256: hash.digest('hex') };
        },
        async ping() {
          await s3.send(new sdk.HeadBucketCommand({ Bucket }));
        },
        async close() {
          s3.destroy();
        },
      };
    },
  };
}

runSystemWorker({ server: startServer, client });
