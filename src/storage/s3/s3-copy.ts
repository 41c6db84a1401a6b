/**
 * Server-side copies of objects over 5 GiB (CopyObject's limit): a multipart upload whose parts
 * are UploadPartCopy ranges of the source, `concurrency` at a time. No byte passes through the
 * fileshare server.
 * @internal
 * @module
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { FileShareError } from 'fileshare';
import { copySource } from './keys.ts';
import type { S3Context } from './s3-context.ts';
import { s3StorageError } from './s3-errors.ts';

/** Part size of copies in parts: 512 MiB (at most 10,000 parts: objects up to 5 TiB). */
const COPY_PART_SIZE = 512 * 1024 * 1024;

/** Copy `fromKey` (of `size` bytes) to `toKey` in parallel parts. @internal */
export async function copyInParts(context: S3Context, fromKey: string, toKey: string, size: number, remote: string): Promise<void> {
  const { bucket } = context;
  const { UploadId } = await context.send<{ UploadId?: string }>(new CreateMultipartUploadCommand({ Bucket: bucket, Key: toKey }), remote);
  if (!UploadId) throw s3StorageError('EIO', remote, 'CreateMultipartUpload returned no UploadId');
  context.active.add(UploadId);
  try {
    const ranges: { n: number; start: number; end: number }[] = [];
    for (let start = 0, n = 1; start < size; start += COPY_PART_SIZE, n++)
      ranges.push({ n, start, end: Math.min(size, start + COPY_PART_SIZE) - 1 });
    const parts: { PartNumber: number; ETag: string }[] = [];
    await inParallel(ranges, context.concurrency, async ({ n, start, end }) => {
      const result = await context.send<{ CopyPartResult?: { ETag?: string } }>(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: toKey,
          UploadId,
          PartNumber: n,
          CopySource: copySource(bucket, fromKey),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
        remote,
      );
      const etag = result.CopyPartResult?.ETag;
      if (!etag) throw s3StorageError('EIO', remote, `UploadPartCopy ${n} returned no ETag`);
      parts.push({ PartNumber: n, ETag: etag });
    });
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await context.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: toKey, UploadId, MultipartUpload: { Parts: parts } }),
      remote,
    );
  } catch (err) {
    await context.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: toKey, UploadId }), remote).catch(() => {});
    throw err;
  } finally {
    context.active.delete(UploadId);
  }
}

/** Run `fn` over `items`, at most `limit` at a time; the first failure rejects once the rest settled. @internal */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined)
    throw failure instanceof FileShareError ? failure : new FileShareError('EIO', String(failure), { cause: failure });
}
