/**
 * An upload to S3: bytes are cut into parts as they arrive and each part is sent with
 * UploadPart (a multipart upload, started at the first full part), so neither the whole file nor
 * a temporary copy on disk is ever needed; nothing is visible under the key until `commit()`
 * completes the upload. A file that fits one part is sent at commit as one PutObject.
 *
 * Flow control: the stream's write callback fires as soon as a chunk is in the current part's
 * buffer, and waits only while `concurrency` parts are already in flight. So the protocol's
 * credit (granted per written chunk, a window smaller than one 5 MiB part) keeps flowing while a
 * part fills, and memory stays below `partSize × (concurrency + 1)` per upload.
 * @internal
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createSHA256, type IHasher } from 'hash-wasm';
import { FileShareError, type KeptPrefix, type UploadTarget } from 'fileshare';
import type { S3Context } from './s3-context.ts';
import { s3StorageError } from './s3-errors.ts';

/** S3's limit on the number of parts of one upload. */
const MAX_PARTS = 10_000;
/** Metadata key that marks an object with the id of the upload that wrote it. */
const UPLOAD_ID_META = 'fileshare-upload';

/** What {@link S3Upload} needs. @internal */
export interface S3UploadInit {
  readonly context: S3Context;
  readonly key: string;
  readonly remote: string;
  readonly overwrite: boolean;
  /** Announced size, if any: raises the part size so that the file fits in 10,000 parts. */
  readonly size?: number;
  /** Checks (again, under the claim) that the target is not a folder and, without overwrite, free. */
  readonly checkTarget: (overwrite: boolean) => Promise<void>;
  /** A resumable upload: where its state is saved, its lock, and what an earlier attempt kept. */
  readonly resumable?: ResumableInit;
}

/** The saved state of a resumable upload (a small JSON object beside the bucket's data). @internal */
export interface ResumeState {
  readonly v: 1;
  /** The target key: a state found for another key is not this upload's. */
  readonly key: string;
  readonly uploadId: string;
  readonly marker: string;
  readonly partSize: number;
  /** The parts kept, contiguous from 1. */
  readonly parts: { PartNumber: number; ETag: string; Size: number }[];
  /** SHA-256 state (hash-wasm `save()`, base64) after the kept parts' bytes. */
  readonly hash: string;
}

/** What a resumable {@link S3Upload} starts with. @internal */
export interface ResumableInit {
  readonly resumeKey: string;
  readonly lock: { release: () => Promise<void>; touch: () => Promise<void> };
  /** What an earlier attempt kept (verified against the server's list of parts), if anything. */
  readonly kept?: ResumeState;
  /** Called once the upload is over (committed, aborted or suspended). */
  readonly onSettled: () => void;
}

/** A fresh SHA-256 whose state can be saved, optionally loaded from a saved state. @internal */
export async function sha256Hasher(state?: string): Promise<IHasher> {
  const hasher = await createSHA256();
  hasher.init();
  if (state) hasher.load(Buffer.from(state, 'base64'));
  return hasher;
}

/** The {@link UploadTarget} of {@link S3Storage}. @internal */
export class S3Upload implements UploadTarget {
  readonly stream: Writable;
  /** Bytes kept by an earlier attempt (whole parts of its multipart upload); 0 for a fresh upload. */
  readonly offset: number;
  readonly #init: S3UploadInit;
  readonly #abort = new AbortController();
  /** Written to the object's metadata: lets a repeated Complete be recognised as ours. */
  #marker = randomBytes(12).toString('hex');
  #buffered: Buffer[] = [];
  #bufferedBytes = 0;
  #uploadId: Promise<string> | undefined;
  #nextPart = 1;
  readonly #parts: { PartNumber: number; ETag: string }[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #failure: FileShareError | undefined;
  #settled = false;
  readonly #partSize: number;
  /** Resumable uploads: the running SHA-256 of the bytes written (its state is saved per part). */
  #hasher: IHasher | undefined;
  /** Hash state after each part, by part number, until the part is saved in the state. */
  readonly #stateAfter = new Map<number, string>();
  readonly #partSizes = new Map<number, number>();
  /** Saves of the resume state, one after the other. */
  #saving: Promise<void> = Promise.resolve();
  #savedParts = 0;
  #heartbeat: NodeJS.Timeout | undefined;

  /** @param hasher - for resumable uploads, the SHA-256 state after the kept bytes */
  constructor(init: S3UploadInit, hasher?: IHasher) {
    this.#init = init;
    const { partSize } = init.context;
    const kept = init.resumable?.kept;
    this.#partSize = kept ? kept.partSize : init.size === undefined ? partSize : Math.max(partSize, Math.ceil(init.size / (MAX_PARTS - 1)));
    this.#hasher = hasher;
    this.offset = 0;
    if (kept) {
      this.#uploadId = Promise.resolve(kept.uploadId);
      this.#marker = kept.marker;
      for (const p of kept.parts) {
        this.#parts.push({ PartNumber: p.PartNumber, ETag: p.ETag });
        this.#partSizes.set(p.PartNumber, p.Size);
      }
      this.#nextPart = kept.parts.length + 1;
      this.#savedParts = kept.parts.length;
      this.offset = kept.parts.reduce((sum, p) => sum + p.Size, 0);
      init.context.active.add(kept.uploadId);
    }
    if (init.resumable) {
      // the lock shows this node is alive; a lock untouched for resumeLockTtl is taken over
      const every = Math.max(200, Math.floor(init.context.resumeLockTtlMs / 3));
      this.#heartbeat = setInterval(() => void init.resumable!.lock.touch().catch(() => {}), every);
      this.#heartbeat.unref();
    }
    this.stream = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.#write(chunk, callback),
      final: (callback) => {
        this.#drain().then(() => callback(this.#failure ?? null), callback);
      },
      destroy: (err, callback) => callback(err),
    });
    // an unobserved failure (the stream ended with an error nobody listens to) must not crash the process
    this.stream.on('error', () => {});
  }

  /** Part size of part `n`: grows when an unannounced stream runs long, so it still fits 10,000 parts. */
  #sizeOfPart(n: number): number {
    return this.#partSize * 2 ** Math.floor((n - 1) / 1000);
  }

  #write(chunk: Buffer, callback: (err?: Error | null) => void): void {
    if (this.#failure) return callback(this.#failure);
    this.#buffered.push(chunk);
    this.#bufferedBytes += chunk.length;
    this.#hasher?.update(chunk);
    if (this.#bufferedBytes < this.#sizeOfPart(this.#nextPart)) return callback();
    if (this.#hasher) this.#stateAfter.set(this.#nextPart, Buffer.from(this.#hasher.save()).toString('base64'));
    this.#sendPart(this.#takeBuffer());
    if (this.#inFlight.size < this.#init.context.concurrency) return callback();
    // enough parts in flight: accept more only when one is done (backpressure, bounded memory)
    Promise.race(this.#inFlight).then(
      () => callback(this.#failure ?? null),
      () => callback(this.#failure ?? null),
    );
  }

  #takeBuffer(): Buffer {
    const body = Buffer.concat(this.#buffered, this.#bufferedBytes);
    this.#buffered = [];
    this.#bufferedBytes = 0;
    return body;
  }

  #start(): Promise<string> {
    const { context, key, remote } = this.#init;
    this.#uploadId ??= context
      .send<{ UploadId?: string }>(
        new CreateMultipartUploadCommand({ Bucket: context.bucket, Key: key, Metadata: { [UPLOAD_ID_META]: this.#marker } }),
        remote,
        // not cancelled by abort(): a Create cut off in flight may still exist on the server, and
        // only its UploadId lets abort() remove it
      )
      .then(({ UploadId }) => {
        if (!UploadId) throw s3StorageError('EIO', remote, 'CreateMultipartUpload returned no UploadId');
        context.active.add(UploadId);
        return UploadId;
      });
    return this.#uploadId;
  }

  #sendPart(body: Buffer): void {
    const { context, key, remote } = this.#init;
    const partNumber = this.#nextPart++;
    if (partNumber > MAX_PARTS) {
      this.#fail(s3StorageError('ETOOLARGE', remote, `more than ${MAX_PARTS} parts`));
      return;
    }
    const sent = (async () => {
      const uploadId = await this.#start();
      const { ETag } = await context.send<{ ETag?: string }>(
        new UploadPartCommand({
          Bucket: context.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
          // Content-MD5: every S3 implementation checks it, so a part damaged in transit is refused
          ContentMD5: createHash('md5').update(body).digest('base64'),
        }),
        remote,
        this.#abort.signal,
      );
      if (!ETag) throw s3StorageError('EIO', remote, `UploadPart ${partNumber} returned no ETag`);
      this.#parts.push({ PartNumber: partNumber, ETag });
      this.#partSizes.set(partNumber, body.length);
      if (this.#init.resumable) this.#saveState();
    })().catch((err: unknown) => this.#fail(err instanceof FileShareError ? err : s3StorageError('EIO', remote, undefined, err)));
    this.#inFlight.add(sent);
    void sent.finally(() => this.#inFlight.delete(sent));
  }

  /**
   * Save the resume state with the longest run of finished parts from part 1 (parts finish out
   * of order), so that a node dying now loses at most the parts in flight.
   */
  #saveState(): Promise<void> {
    this.#saving = this.#saving.then(async () => {
      const done = new Set(this.#parts.map((p) => p.PartNumber));
      let n = this.#savedParts;
      while (done.has(n + 1) && this.#stateAfter.has(n + 1)) n++;
      if (n === this.#savedParts) return;
      const { context, key, remote } = this.#init;
      const parts = [...this.#parts]
        .filter((p) => p.PartNumber <= n)
        .sort((a, b) => a.PartNumber - b.PartNumber)
        .map((p) => ({ ...p, Size: this.#partSizes.get(p.PartNumber)! }));
      const state: ResumeState = {
        v: 1,
        key,
        uploadId: await this.#start(),
        marker: this.#marker,
        partSize: this.#partSize,
        parts,
        hash: this.#stateAfter.get(n)!,
      };
      await context.send(
        new PutObjectCommand({
          Bucket: context.bucket,
          Key: context.stateKey(this.#init.resumable!.resumeKey),
          Body: JSON.stringify(state),
          ContentType: 'application/json',
        }),
        remote,
      );
      for (let i = this.#savedParts + 1; i < n; i++) this.#stateAfter.delete(i);
      this.#savedParts = n;
    });
    return this.#saving.catch(() => {}); // a failed save leaves the previous state: a resume continues from there
  }

  /** The SHA-256 of the kept bytes and a hash to continue from them (resumed uploads). */
  async keptPrefix(): Promise<KeptPrefix> {
    const kept = this.#init.resumable?.kept;
    if (!kept) throw new FileShareError('EIO', 'nothing was kept');
    const digest = (await sha256Hasher(kept.hash)).digest('hex');
    return { sha256: digest, hash: await sha256Hasher(kept.hash) };
  }

  /** Release the resume lock and forget the state (committed or aborted); `keep` leaves the state for a resume. */
  async #settleResumable(keep: boolean): Promise<void> {
    const resumable = this.#init.resumable;
    if (!resumable) return;
    clearInterval(this.#heartbeat);
    const { context, remote } = this.#init;
    try {
      await this.#saving.catch(() => {});
      if (!keep)
        await context
          .send(new DeleteObjectCommand({ Bucket: context.bucket, Key: context.stateKey(resumable.resumeKey) }), remote)
          .catch(() => {});
      await resumable.lock.release().catch(() => {}); // a lock left behind goes stale after resumeLockTtl
    } finally {
      resumable.onSettled();
    }
  }

  #fail(err: FileShareError): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#abort.abort();
    this.stream.destroy(err);
  }

  async #drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Make the object visible. Without overwrite, the claim of the key is held while the target is
   * checked and the object is written, and the write itself is conditional (`If-None-Match: *`,
   * enforced by AWS on both PutObject and Complete, by radosgw on PutObject).
   */
  async commit(): Promise<void> {
    if (this.#settled) throw new FileShareError('EIO', 'the upload is already over');
    await this.#drain();
    if (this.#failure) throw this.#failure;
    const { context, key, remote, overwrite } = this.#init;
    const release = overwrite ? undefined : await context.claim(key, remote);
    if (release === null) throw s3StorageError('EEXIST', remote, 'another upload is creating it');
    try {
      await this.#init.checkTarget(overwrite);
      if (this.#uploadId === undefined) await this.#putWhole();
      else await this.#complete();
      this.#settled = true;
    } finally {
      await release?.().catch(() => {}); // a claim left behind expires after claimTtlMs
    }
    await this.#settleResumable(false);
  }

  async #putWhole(): Promise<void> {
    const { context, key, remote, overwrite } = this.#init;
    const body = this.#takeBuffer();
    await context.send(
      new PutObjectCommand({
        Bucket: context.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ...(overwrite ? {} : { IfNoneMatch: '*' }),
      }),
      remote,
      this.#abort.signal,
    );
  }

  async #complete(): Promise<void> {
    const { context, key, remote, overwrite } = this.#init;
    if (this.#bufferedBytes > 0) {
      this.#sendPart(this.#takeBuffer());
      await this.#drain();
      if (this.#failure) throw this.#failure;
    }
    const uploadId = await this.#start();
    const parts = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
    try {
      await context.send(
        new CompleteMultipartUploadCommand({
          Bucket: context.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(overwrite ? {} : { IfNoneMatch: '*' }),
        }),
        remote,
        this.#abort.signal,
      );
    } catch (err) {
      // A Complete whose answer was lost is retried by the SDK, and radosgw answers the repeat with
      // 500 ("already in progress"): the object carrying our marker means it did complete.
      if ((err as FileShareError).code === 'EEXIST' || !(await this.#isOurs())) throw err;
    }
    context.active.delete(uploadId);
  }

  async #isOurs(): Promise<boolean> {
    const { context, key, remote } = this.#init;
    try {
      const head = await context.send<{ Metadata?: Record<string, string> }>(
        new HeadObjectCommand({ Bucket: context.bucket, Key: key }),
        remote,
      );
      return head.Metadata?.[UPLOAD_ID_META] === this.#marker;
    } catch {
      return false;
    }
  }

  /** Stop every part in flight and abort the multipart upload (its parts are freed). Idempotent. */
  async abort(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    this.#failure ??= new FileShareError('EABORTED', 'the upload was aborted');
    this.#abort.abort();
    this.stream.destroy();
    await Promise.allSettled([...this.#inFlight]);
    try {
      await this.#abortMultipart();
    } finally {
      await this.#settleResumable(false);
    }
  }

  async #abortMultipart(): Promise<void> {
    if (this.#uploadId === undefined) return;
    const { context, key, remote } = this.#init;
    let uploadId: string;
    try {
      uploadId = await this.#uploadId;
    } catch {
      return; // never created
    }
    try {
      await context.send(new AbortMultipartUploadCommand({ Bucket: context.bucket, Key: key, UploadId: uploadId }), remote);
    } catch (err) {
      // an abort that fails leaves the parts to the sweeper (they are then an abandoned upload)
      if ((err as FileShareError).code !== 'ENOENT') throw err;
    } finally {
      context.active.delete(uploadId);
    }
  }

  /**
   * Stop, keeping the finished parts and the saved state for a resume (resumable uploads; others
   * are aborted). Parts in flight may finish; the bytes of the unfinished last part are dropped,
   * and the next attempt resends them.
   */
  async suspend(): Promise<void> {
    if (!this.#init.resumable) return this.abort();
    if (this.#settled) return;
    this.#settled = true;
    this.#failure ??= new FileShareError('EABORTED', 'the upload was suspended');
    this.stream.destroy();
    await Promise.allSettled([...this.#inFlight]);
    await this.#saveState();
    if (this.#uploadId !== undefined) this.#init.context.active.delete(await this.#uploadId.catch(() => ''));
    await this.#settleResumable(true);
  }

  /** The parts of an unfinished multipart upload cannot be read back: {@link keptPrefix} proves them instead. */
  readExisting(): Readable {
    const err = new FileShareError('EIO', 'the kept parts of an S3 upload cannot be read back');
    return new Readable({
      read() {
        this.destroy(err);
      },
    });
  }
}
