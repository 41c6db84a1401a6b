/**
 * What every S3Storage of one bucket (the root and its scoped homes) shares: the SDK client, the
 * settings, and one way to send a command with a timeout.
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Error } from './s3-errors.ts';
import { STATE_FOLDER } from './keys.ts';

/** A command the SDK client can send. @internal */
export type AnyCommand = { readonly input: unknown };

/** Shared state of the S3Storage instances of one bucket and root prefix. @internal */
export class S3Context {
  /** Multipart uploads running in this process (the sweeper never touches them). */
  readonly active = new Set<string>();

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    /** Root prefix of the storage: its own objects live under `<base>.fileshare-part-s3-state/`. */
    readonly base: string,
    readonly partSize: number,
    readonly concurrency: number,
    readonly timeoutMs: number,
    readonly claimTtlMs: number,
  ) {}

  /**
   * Send one command. The timeout covers the call until its response headers arrive (a GET's body
   * is then bounded by the HTTP handler's socket timeout, since a download may rightly take long);
   * `signal` cancels it early. Errors become FileShareErrors about `remote`.
   */
  async send<T>(command: AnyCommand, remote: string, signal?: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) controller.abort();
    try {
      return (await this.client.send(command as never, { abortSignal: controller.signal })) as T;
    } catch (err) {
      throw s3Error(err, remote);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Key of the create-if-absent claim of `key`. */
  claimKey(key: string): string {
    return `${this.base}${STATE_FOLDER}claims/${createHash('sha256').update(key).digest('hex')}`;
  }

  /**
   * Take the create-if-absent claim of `key`: a small object written with `If-None-Match: *`,
   * which radosgw and AWS both honour on PutObject (radosgw ignores it on
   * CompleteMultipartUpload, so a multipart commit without overwrite cannot rely on it). Every
   * writer of this backend that must not replace `key` holds the claim while it checks that `key`
   * is free and makes its object visible, so two such writers can never both succeed. A claim left
   * by a crashed node is taken over once older than `claimTtlMs`.
   * @returns a release function, or null when another writer holds the claim
   */
  async claim(key: string, remote: string): Promise<(() => Promise<void>) | null> {
    const claimKey = this.claimKey(key);
    const put = () =>
      this.send(new PutObjectCommand({ Bucket: this.bucket, Key: claimKey, Body: key, IfNoneMatch: '*', ContentType: 'text/plain' }), remote);
    try {
      await put();
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      if (!(await this.claimIsStale(claimKey, remote))) return null;
      await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: claimKey }), remote);
      try {
        await put();
      } catch (again) {
        if ((again as { code?: string }).code === 'EEXIST') return null;
        throw again;
      }
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: claimKey }), remote);
    };
  }

  private async claimIsStale(claimKey: string, remote: string): Promise<boolean> {
    try {
      const head = await this.send<{ LastModified?: Date }>(new HeadObjectCommand({ Bucket: this.bucket, Key: claimKey }), remote);
      return head.LastModified !== undefined && Date.now() - head.LastModified.getTime() > this.claimTtlMs;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return true; // released meanwhile
      throw err;
    }
  }
}
