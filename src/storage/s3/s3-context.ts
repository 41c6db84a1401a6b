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
    /** A resumable upload's lock not touched for this long belongs to a dead node. */
    readonly resumeLockTtlMs: number,
    /** Keys per ListObjectsV2 page of a listing (S3's `MaxKeys`). */
    readonly listPageSize: number,
  ) {}

  /** Resumable uploads running in this process, by resume key: a newer attempt takes over from them. */
  readonly resumable = new Map<string, { settled: Promise<void> }>();

  /** Key of the saved state of the resumable upload `resumeKey`. */
  stateKey(resumeKey: string): string {
    return `${this.base}${STATE_FOLDER}uploads/${resumeKey}`;
  }

  /** Key of the lock of the resumable upload `resumeKey`. */
  resumeLockKey(resumeKey: string): string {
    return `${this.base}${STATE_FOLDER}locks/${resumeKey}`;
  }

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
   * Take the lock object `lockKey` (PutObject with `If-None-Match: *`): null when another holder
   * has it and touched it within `ttlMs`; a lock older than that (its node died) is taken over.
   * The returned release deletes it; `touch` rewrites it to show the holder is alive.
   */
  async lock(lockKey: string, ttlMs: number, remote: string): Promise<{ release: () => Promise<void>; touch: () => Promise<void> } | null> {
    const put = (condition: boolean) =>
      this.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: lockKey, Body: String(Date.now()), ...(condition ? { IfNoneMatch: '*' } : {}) }),
        remote,
      );
    try {
      await put(true);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      if (!(await this.isStale(lockKey, ttlMs, remote))) return null;
      await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: lockKey }), remote);
      try {
        await put(true);
      } catch (again) {
        if ((again as { code?: string }).code === 'EEXIST') return null;
        throw again;
      }
    }
    let released = false;
    return {
      touch: async () => {
        if (!released) await put(false);
      },
      release: async () => {
        if (released) return;
        released = true;
        await this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: lockKey }), remote);
      },
    };
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
    const held = await this.lock(this.claimKey(key), this.claimTtlMs, remote);
    return held && held.release;
  }

  private async isStale(lockKey: string, ttlMs: number, remote: string): Promise<boolean> {
    try {
      const head = await this.send<{ LastModified?: Date }>(new HeadObjectCommand({ Bucket: this.bucket, Key: lockKey }), remote);
      return head.LastModified !== undefined && Date.now() - head.LastModified.getTime() > ttlMs;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return true; // released meanwhile
      throw err;
    }
  }
}
