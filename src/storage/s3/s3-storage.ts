/**
 * A {@link Storage} in an S3 bucket (AWS S3, Ceph radosgw, MinIO, R2, ...).
 * @module
 */
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  type _Object,
  type CommonPrefix,
  type MultipartUpload,
  type Part,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import {
  type Entry,
  FileShareError,
  normalizeRemotePath,
  type OpenUploadOptions,
  type ReadHandle,
  type Storage,
  type StorageCapabilities,
  type SweepOptions,
  type UploadTarget,
} from 'fileshare';
import { childName, copySource, fileKey, folderKey, normalizePrefix, splitRemote, STATE_FOLDER } from './keys.ts';
import { copyInParts, inParallel } from './s3-copy.ts';
import { type AnyCommand, S3Context } from './s3-context.ts';
import { s3StorageError } from './s3-errors.ts';
import { type ResumeState, S3Upload, sha256Hasher } from './s3-upload.ts';

/** Static credentials of {@link S3StorageOptions.credentials}. */
export interface S3Credentials {
  /** The access key id. */
  readonly accessKeyId: string;
  /** The secret access key. */
  readonly secretAccessKey: string;
  /** A session token, for temporary credentials. */
  readonly sessionToken?: string;
}

/** Options of {@link S3Storage}. */
export interface S3StorageOptions {
  /** The bucket; it must exist. */
  readonly bucket: string;
  /** Keep everything under this key prefix (e.g. `"fileshare"` → keys `fileshare/...`). @default '' (the whole bucket) */
  readonly prefix?: string;
  /** The region. @default the SDK's default chain (AWS_REGION, config files), else `us-east-1` */
  readonly region?: string;
  /** The S3 endpoint of a non-AWS server (e.g. `http://127.0.0.1:7480`). @default AWS */
  readonly endpoint?: string;
  /** Static credentials. @default the SDK's default chain (environment, config files, instance roles) */
  readonly credentials?: S3Credentials;
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (most non-AWS servers need it). @default true when `endpoint` is set */
  readonly forcePathStyle?: boolean;
  /** Bytes per multipart part; at least 5 MiB. Larger files raise it so they fit in 10,000 parts. @default 8388608 (8 MiB) */
  readonly partSize?: number;
  /** Parts of one upload (and objects of one copy or delete) in flight at once. @default 4 */
  readonly concurrency?: number;
  /**
   * Longest wait for any S3 call, ms: until its response starts (and, through the HTTP socket
   * timeout, between two packets of a body). A hung object store fails requests with `ETIMEDOUT`
   * instead of holding them forever. @default 30000
   */
  readonly requestTimeout?: number;
  /** A create-if-absent claim older than this is taken over (its node died while committing), ms. @default 600000 */
  readonly claimTtl?: number;
  /**
   * A resumable upload's lock object is rewritten every third of this time while it runs; one not
   * rewritten for this long belongs to a dead node and is taken over by the next attempt, ms.
   * @default 30000
   */
  readonly resumeLockTtl?: number;
  /**
   * Keys asked for per ListObjectsV2 page when listing a folder (S3's `MaxKeys`, 1 to 1,000): a
   * smaller page holds less per listing and answers its first batch sooner, at more requests.
   * @default 1000
   */
  readonly listPageSize?: number;
  /** Use this SDK client instead of making one (the connection options above are then ignored). */
  readonly client?: S3Client;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Largest object CopyObject copies in one call; larger ones are copied in parts. */
const MAX_COPY_OBJECT = 5 * 1024 ** 3;
/** The lock of a resumable upload whose caller holds a lock shared by every node: nothing to write. */
const NO_LOCK = { release: async () => {}, touch: async () => {} };

/**
 * A {@link Storage} in an S3-compatible bucket. Pass it as the server's `root`; users' homes
 * become key prefixes (`scope`), and no path a client sends can produce a key outside them.
 *
 * - Files are objects; a folder is a key prefix, and an empty folder is kept by a zero-byte
 *   marker object `<folder>/`.
 * - Uploads are multipart, streamed part by part (see docs/scaling.md for memory and flow
 *   control), and visible only once complete. `overwrite: false` never replaces an object written
 *   through fileshare, even on servers that ignore `If-None-Match` on multipart completion
 *   (radosgw): a claim object taken with a conditional PutObject guards the commit.
 * - Downloads are ranged GETs, so a download resumes at any offset.
 * - `rename` is a copy followed by a delete (large objects are copied in parallel parts): it is
 *   **not atomic**; a folder is renamed object by object.
 * - Resumable uploads keep their finished parts: a small state object saved at every part holds
 *   the part list and the SHA-256 state after them, so a resume on any node continues the
 *   end-to-end hash from there without reading anything back. A lock object (rewritten while the
 *   upload runs) keeps two nodes from running the same upload at once.
 *
 * @example
 * ```ts
 * import { FileShareServer, JsonFileAuthProvider } from 'fileshare';
 * import { S3Storage } from 'fileshare/s3';
 *
 * const server = new FileShareServer({
 *   root: new S3Storage({ bucket: 'files', region: 'eu-west-1' }),
 *   auth: new JsonFileAuthProvider('./users.json'),
 * });
 * await server.listen();
 * ```
 */
export class S3Storage implements Storage {
  /**
   * What this backend guarantees (docs/scaling.md says what the server does without each):
   * rename is copy + delete, create-if-absent holds (claim + conditional write), resumable
   * uploads keep their finished parts, hashing is done by the server as the bytes pass.
   */
  readonly capabilities: StorageCapabilities = { atomicRename: false, atomicCreate: true, resumableUploads: true, serverSideHash: false };
  readonly #context: S3Context;
  /** Key prefix of this storage's `/` (`''` or ending in `/`). */
  readonly #prefix: string;

  /**
   * @param options - see {@link S3StorageOptions}
   * @throws TypeError for a missing bucket or an invalid option
   */
  constructor(options: S3StorageOptions);
  /** @internal a scoped storage */
  constructor(options: S3StorageOptions, scoped: { context: S3Context; prefix: string });
  constructor(options: S3StorageOptions, scoped?: { context: S3Context; prefix: string }) {
    if (scoped) {
      this.#context = scoped.context;
      this.#prefix = scoped.prefix;
      return;
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('S3Storage: options must be an object');
    if (typeof options.bucket !== 'string' || options.bucket.length === 0) throw new TypeError('S3Storage: options.bucket is required');
    const partSize = integer('partSize', options.partSize, 8 * 1024 * 1024, MIN_PART_SIZE, 5 * 1024 ** 3);
    const concurrency = integer('concurrency', options.concurrency, 4, 1, 64);
    const timeout = integer('requestTimeout', options.requestTimeout, 30_000, 100, 3_600_000);
    const claimTtl = integer('claimTtl', options.claimTtl, 600_000, 1_000, 86_400_000);
    const lockTtl = integer('resumeLockTtl', options.resumeLockTtl, 30_000, 1_000, 3_600_000);
    const listPageSize = integer('listPageSize', options.listPageSize, 1000, 1, 1000);
    const prefix = normalizePrefix(options.prefix);
    const client = options.client ?? new S3Client(clientConfig(options, timeout, concurrency));
    this.#context = new S3Context(client, options.bucket, prefix, partSize, concurrency, timeout, claimTtl, lockTtl, listPageSize);
    this.#prefix = prefix;
  }

  /** The SDK client (to create the bucket, say, or to close its sockets with `destroy()`). */
  get client(): S3Client {
    return this.#context.client;
  }

  /** The bucket. */
  get bucket(): string {
    return this.#context.bucket;
  }

  /** The key prefix of this storage's `/` (`''` for the bucket's root, else ending in `/`). */
  get prefix(): string {
    return this.#prefix;
  }

  /** A storage rooted at the folder `remotePath` (a user's home: a longer key prefix), created if missing. */
  async scope(remotePath: string): Promise<S3Storage> {
    const remote = normalizeRemotePath(remotePath);
    await this.mkdir(remote, { recursive: true });
    return new S3Storage({ bucket: this.bucket }, { context: this.#context, prefix: folderKey(this.#prefix, remote) });
  }

  /** Metadata of a file or folder: a file is an object, a folder a key prefix with anything under it. */
  async stat(remotePath: string): Promise<Entry> {
    const remote = normalizeRemotePath(remotePath);
    const entry = await this.#find(remote);
    if (!entry) throw s3StorageError('ENOENT', remote);
    return entry;
  }

  /**
   * The entries of a folder, sorted by name (one ListObjectsV2 page of up to 1,000 keys at a
   * time; see {@link S3Storage.entries} to consume a huge folder without holding it all).
   */
  async list(remotePath: string): Promise<Entry[]> {
    const entries: Entry[] = [];
    for await (const page of this.entries(remotePath)) entries.push(...page);
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * The entries of a folder, one page (up to `listPageSize` keys) at a time, in key order (files and
   * folders each sorted; not merged). Memory stays one page however large the folder.
   * @throws FileShareError `ENOENT`, `ENOTDIR` (from the first iteration)
   */
  async *entries(remotePath: string): AsyncGenerator<Entry[]> {
    const remote = normalizeRemotePath(remotePath);
    const folder = folderKey(this.#prefix, remote);
    let token: string | undefined;
    let seenAnything = remote === '/';
    do {
      const page = await this.#listPage(folder, remote, { delimiter: true, token });
      const entries: Entry[] = [];
      for (const object of page.Contents ?? []) {
        if (object.Key === folder) {
          seenAnything = true; // the folder's own marker
          continue;
        }
        seenAnything = true;
        const name = childName(folder, object.Key ?? '');
        if (name !== null && !object.Key!.endsWith('/')) entries.push(fileEntry(name, object));
      }
      for (const common of page.CommonPrefixes ?? []) {
        seenAnything = true;
        const name = childName(folder, common.Prefix ?? '');
        if (name !== null) entries.push({ name, type: 'directory', size: 0, mtime: 0 });
      }
      if (!seenAnything) {
        // nothing under the prefix: either a missing folder or a file
        const entry = await this.#find(remote);
        if (!entry) throw s3StorageError('ENOENT', remote);
        if (entry.type === 'file') throw s3StorageError('ENOTDIR', remote);
        seenAnything = true;
      }
      if (entries.length > 0) yield entries;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Create a folder (its marker object); with `recursive`, its parents too, and no error if it
   * exists.
   * @throws FileShareError `EEXIST`, `ENOENT` (parent missing), `ENOTDIR` (a parent is a file)
   */
  async mkdir(remotePath: string, options: { recursive?: boolean } = {}): Promise<void> {
    const remote = normalizeRemotePath(remotePath);
    if (remote === '/') {
      if (options.recursive) return;
      throw s3StorageError('EEXIST', remote);
    }
    if (options.recursive) {
      let current = '';
      for (const name of remote.slice(1).split('/')) {
        current = `${current}/${name}`;
        const entry = await this.#find(current);
        if (entry?.type === 'file') throw s3StorageError('ENOTDIR', current);
        if (!entry) await this.#putMarker(current);
      }
      return;
    }
    await this.#requireFolder(splitRemote(remote).parent);
    if (await this.#find(remote)) throw s3StorageError('EEXIST', remote);
    await this.#putMarker(remote);
  }

  /**
   * Remove a folder; with `recursive`, everything under it, in batched deletes of up to 1,000 keys.
   * @throws FileShareError `ENOTDIR`, `ENOTEMPTY`, `ENOENT`, `EACCES` for `/`
   */
  async rmdir(remotePath: string, options: { recursive?: boolean } = {}): Promise<void> {
    const remote = normalizeRemotePath(remotePath);
    if (remote === '/') throw s3StorageError('EACCES', remote, 'the root cannot be removed');
    const entry = await this.#find(remote);
    if (!entry) throw s3StorageError('ENOENT', remote);
    if (entry.type !== 'directory') throw s3StorageError('ENOTDIR', remote);
    const folder = folderKey(this.#prefix, remote);
    if (!options.recursive) {
      const page = await this.#listPage(folder, remote, { delimiter: true, maxKeys: 2 });
      const others = (page.Contents ?? []).filter((o) => o.Key !== folder).length + (page.CommonPrefixes ?? []).length;
      if (others > 0) throw s3StorageError('ENOTEMPTY', remote);
      await this.#send(new DeleteObjectCommand({ Bucket: this.bucket, Key: folder }), remote);
      return;
    }
    await this.#deleteUnder(folder, remote);
  }

  /**
   * Delete a file.
   * @throws FileShareError `EISDIR` for a folder, `ENOENT`
   */
  async delete(remotePath: string): Promise<void> {
    const remote = normalizeRemotePath(remotePath);
    const entry = await this.#find(remote);
    if (!entry) throw s3StorageError('ENOENT', remote);
    if (entry.type === 'directory') throw s3StorageError('EISDIR', remote);
    await this.#send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fileKey(this.#prefix, remote) }), remote);
  }

  /**
   * Rename or move; never overwrites (`EEXIST`). S3 has no rename: objects are copied (objects
   * over 5 GiB in parallel parts) and then the originals deleted, so this is **not atomic**: a
   * failure midway can leave both names, and readers may see the new name before the old one
   * goes. A folder is moved object by object.
   * @throws FileShareError `EEXIST`, `ENOENT`, `ENOTDIR` (destination's parent is a file), `EINVAL`
   */
  async rename(fromPath: string, toPath: string): Promise<void> {
    const from = normalizeRemotePath(fromPath);
    const to = normalizeRemotePath(toPath);
    if (from === '/') throw s3StorageError('EINVAL', from, 'the root cannot be renamed');
    if (to === from || to.startsWith(`${from}/`)) {
      if (to === from) throw s3StorageError('EEXIST', to);
      throw s3StorageError('EINVAL', to, `cannot move ${from} into itself`);
    }
    const source = await this.#find(from);
    if (!source) throw s3StorageError('ENOENT', from);
    if (to === '/') throw s3StorageError('EEXIST', to);
    await this.#requireFolder(splitRemote(to).parent);
    const toKey = fileKey(this.#prefix, to);
    const release = await this.#context.claim(toKey, to);
    if (release === null) throw s3StorageError('EEXIST', to, 'another upload is creating it');
    try {
      if (await this.#find(to)) throw s3StorageError('EEXIST', to);
      if (source.type === 'file') {
        await this.#copy(fileKey(this.#prefix, from), toKey, source.size, to);
        await this.#send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fileKey(this.#prefix, from) }), from);
        return;
      }
      const fromFolder = folderKey(this.#prefix, from);
      const toFolder = folderKey(this.#prefix, to);
      const keys: { key: string; size: number }[] = [];
      for await (const object of this.#allUnder(fromFolder, from)) keys.push({ key: object.Key!, size: object.Size ?? 0 });
      await inParallel(keys, this.#context.concurrency, ({ key, size }) =>
        this.#copy(key, toFolder + key.slice(fromFolder.length), size, to),
      );
      await this.#deleteUnder(fromFolder, from);
    } finally {
      await release().catch(() => {});
    }
  }

  /**
   * Open a file for reading from `offset`: one ranged GET, so any offset costs the same.
   * The stream is the HTTP response body: consume or destroy it.
   * @throws FileShareError `EISDIR`, `ENOENT`, `EINVAL` (offset beyond the size)
   */
  async openRead(remotePath: string, options: { offset?: number; highWaterMark?: number } = {}): Promise<ReadHandle> {
    const remote = normalizeRemotePath(remotePath);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw s3StorageError('EINVAL', remote, `bad offset ${offset}`);
    const entry = await this.#find(remote);
    if (!entry) throw s3StorageError('ENOENT', remote);
    if (entry.type === 'directory') throw s3StorageError('EISDIR', remote);
    const { size, mtime } = entry;
    if (offset > size) throw s3StorageError('EINVAL', remote, `offset ${offset} is beyond the size ${size}`);
    const version = (entry as FileEntry).etag;
    if (offset === size) return { stream: Readable.from([]), size, mtime, version };
    const key = fileKey(this.#prefix, remote);
    // IfMatch: the bytes must be those of the version just measured; a file replaced in between
    // fails (412 → EEXIST, reported as EIO here) instead of mixing two versions' sizes
    let response: { Body?: unknown };
    try {
      response = await this.#send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-${size - 1}`, IfMatch: version }),
        remote,
      );
    } catch (err) {
      if ((err as FileShareError).code === 'EEXIST') throw s3StorageError('EIO', remote, 'the file changed while it was being opened', err);
      throw err;
    }
    const body = response.Body;
    if (!(body instanceof Readable)) throw s3StorageError('EIO', remote, 'the response has no body stream');
    return { stream: body, size, mtime, version };
  }

  /**
   * Start an upload to `path`; nothing is visible until `commit()`.
   * @throws FileShareError `EISDIR`, `EEXIST` (no overwrite; checked again at commit), `ENOENT` /
   *   `ENOTDIR` (parent missing / a file), `EINVAL` (bad size)
   */
  async openUpload(remotePath: string, options: OpenUploadOptions = {}): Promise<UploadTarget> {
    const remote = normalizeRemotePath(remotePath);
    if (remote === '/') throw s3StorageError('EISDIR', remote);
    const size = options.size;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw s3StorageError('EINVAL', remote, `bad size ${size}`);
    const overwrite = options.overwrite ?? false;
    const checkTarget = async (overwriting: boolean) => {
      const entry = await this.#find(remote);
      if (entry?.type === 'directory') throw s3StorageError('EISDIR', remote);
      if (entry && !overwriting) throw s3StorageError('EEXIST', remote);
    };
    await this.#requireFolder(splitRemote(remote).parent);
    await checkTarget(overwrite);
    const key = fileKey(this.#prefix, remote);
    const init = { context: this.#context, key, remote, overwrite, size, checkTarget };
    if (!options.resume) return new S3Upload(init);
    return this.#openResumable(init, options.resume);
  }

  /**
   * A resumable upload: take its lock (the server stops an older attempt in this process before
   * it opens a newer one; one on a dead node is taken over once its lock is stale; one alive
   * elsewhere is `EBUSY`),
   * then continue the multipart upload its saved state names, if the parts are still there.
   */
  async #openResumable(
    init: ConstructorParameters<typeof S3Upload>[0],
    resume: NonNullable<OpenUploadOptions['resume']>,
  ): Promise<UploadTarget> {
    const context = this.#context;
    const { remote, key } = init;
    const resumeKey = resume.key;
    // the server stops an older attempt (a connection that died without it noticing) before it
    // opens a newer one: one still open here is another caller's, which this one must not disturb
    if (context.resumable.has(resumeKey)) throw s3StorageError('EBUSY', remote, 'this upload is in progress');
    // the server holds a lock every node shares (PostgreSQL): no lock object is needed
    const lock = resume.sharedLock ? NO_LOCK : await context.lock(context.resumeLockKey(resumeKey), context.resumeLockTtlMs, remote);
    if (!lock) throw s3StorageError('EBUSY', remote, 'this upload is in progress on another node');
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const entry = { settled };
    context.resumable.set(resumeKey, entry);
    const onSettled = () => {
      if (context.resumable.get(resumeKey) === entry) context.resumable.delete(resumeKey);
      settle();
    };
    try {
      let kept = resume.restart ? undefined : await this.#keptState(resumeKey, key, remote);
      if (resume.restart || !kept) {
        await this.#dropState(resumeKey, remote);
        kept = undefined;
      }
      const hasher = await sha256Hasher(kept?.hash);
      return new S3Upload({ ...init, resumable: { resumeKey, lock, kept, onSettled } }, hasher);
    } catch (err) {
      await lock.release().catch(() => {});
      onSettled();
      throw err;
    }
  }

  /** The saved state of a resumable upload, if it is for this key and its parts still exist. */
  async #keptState(resumeKey: string, key: string, remote: string): Promise<ResumeState | undefined> {
    let state: ResumeState;
    try {
      const got = await this.#send<{ Body?: { transformToString(): Promise<string> } }>(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.#context.stateKey(resumeKey) }),
        remote,
      );
      state = JSON.parse((await got.Body?.transformToString()) ?? '') as ResumeState;
    } catch (err) {
      if ((err as FileShareError).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
      throw err;
    }
    if (state.v !== 1 || state.key !== key || !Array.isArray(state.parts)) return undefined;
    // the parts must still be there, with the same ETags (radosgw: NoSuchKey for a gone upload)
    const listed = new Map<number, string>();
    let marker: string | undefined;
    try {
      do {
        const page = await this.#send<{ Parts?: Part[]; IsTruncated?: boolean; NextPartNumberMarker?: string }>(
          new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: state.uploadId, PartNumberMarker: marker }),
          remote,
        );
        for (const p of page.Parts ?? []) if (p.PartNumber !== undefined && p.ETag) listed.set(p.PartNumber, p.ETag);
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (err) {
      if ((err as FileShareError).code === 'ENOENT') return undefined;
      throw err;
    }
    const intact = state.parts.every((p, i) => p.PartNumber === i + 1 && listed.get(p.PartNumber) === p.ETag);
    return intact ? state : undefined;
  }

  /** Abort the multipart upload a saved state names and delete the state. */
  async #dropState(resumeKey: string, remote: string): Promise<void> {
    const stateKey = this.#context.stateKey(resumeKey);
    try {
      const got = await this.#send<{ Body?: { transformToString(): Promise<string> } }>(
        new GetObjectCommand({ Bucket: this.bucket, Key: stateKey }),
        remote,
      );
      const state = JSON.parse((await got.Body?.transformToString()) ?? '{}') as Partial<ResumeState>;
      if (state.uploadId && state.key) {
        await this.#send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: state.key, UploadId: state.uploadId }), remote).catch(
          () => {},
        );
      }
    } catch (err) {
      if ((err as FileShareError).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
      return;
    }
    await this.#send(new DeleteObjectCommand({ Bucket: this.bucket, Key: stateKey }), remote);
  }

  /** Total bytes of the objects under a path (for quotas): one listing of every key under it. */
  async usage(remotePath: string): Promise<number> {
    const remote = normalizeRemotePath(remotePath);
    let total = 0;
    for await (const object of this.#allUnder(folderKey(this.#prefix, remote), remote)) total += object.Size ?? 0;
    return total;
  }

  /**
   * Abort abandoned multipart uploads under this storage's prefix: those with no part written for
   * `abandonedTtlMs` (every upload of this backend is a plain one, so `resumableTtlMs` does not
   * apply), except uploads running in this process; and remove create-if-absent claims older than
   * `claimTtl`. Resolves to how many were removed.
   */
  async sweep(options: SweepOptions): Promise<number> {
    const now = Date.now();
    let removed = 0;
    // resumable uploads: their saved state is rewritten at every part, so its age is the time
    // without progress; expired ones are aborted, the others are left to run or resume
    const resumableIds = new Set<string>();
    const states = `${this.#context.base}${STATE_FOLDER}uploads/`;
    if (this.#prefix === this.#context.base) {
      for await (const object of this.#allUnder(states, '/')) {
        const resumeKey = object.Key!.slice(states.length);
        const expired = object.LastModified !== undefined && now - object.LastModified.getTime() > options.resumableTtlMs;
        if (expired && !this.#context.resumable.has(resumeKey)) {
          await this.#dropState(resumeKey, '/');
          removed++;
          continue;
        }
        try {
          const got = await this.#send<{ Body?: { transformToString(): Promise<string> } }>(
            new GetObjectCommand({ Bucket: this.bucket, Key: object.Key! }),
            '/',
          );
          const id = (JSON.parse((await got.Body?.transformToString()) ?? '{}') as Partial<ResumeState>).uploadId;
          if (id) resumableIds.add(id);
        } catch {
          /* removed meanwhile, or unreadable: its upload is then swept as abandoned */
        }
      }
    }
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.#send<{
        Uploads?: MultipartUpload[];
        IsTruncated?: boolean;
        NextKeyMarker?: string;
        NextUploadIdMarker?: string;
      }>(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: this.#prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
        '/',
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId || this.#context.active.has(upload.UploadId) || resumableIds.has(upload.UploadId)) continue;
        const touched = await this.#lastTouched(upload);
        if (touched === null || now - touched < options.abandonedTtlMs) continue;
        try {
          await this.#send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }), '/');
          removed++;
        } catch (err) {
          if ((err as FileShareError).code !== 'ENOENT') throw err;
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    const claims = `${this.#context.base}${STATE_FOLDER}claims/`;
    if (this.#prefix === this.#context.base) {
      for await (const object of this.#allUnder(claims, '/')) {
        if (object.LastModified && now - object.LastModified.getTime() > this.#context.claimTtlMs) {
          await this.#send(new DeleteObjectCommand({ Bucket: this.bucket, Key: object.Key! }), '/');
          removed++;
        }
      }
    }
    return removed;
  }

  // ---- helpers ------------------------------------------------------------------------------

  #send<T>(command: AnyCommand, remote: string): Promise<T> {
    return this.#context.send<T>(command, remote);
  }

  /** When a multipart upload last made progress (its newest part, else its start); null if gone. */
  async #lastTouched(upload: MultipartUpload): Promise<number | null> {
    let newest = upload.Initiated?.getTime() ?? 0;
    let marker: string | undefined;
    try {
      do {
        const page = await this.#send<{ Parts?: Part[]; IsTruncated?: boolean; NextPartNumberMarker?: string }>(
          new ListPartsCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId, PartNumberMarker: marker }),
          '/',
        );
        for (const part of page.Parts ?? []) newest = Math.max(newest, part.LastModified?.getTime() ?? 0);
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (err) {
      if ((err as FileShareError).code === 'ENOENT') return null; // completed or aborted meanwhile
      throw err;
    }
    return newest;
  }

  /** The file or folder at `remote`, or null. A file wins over a folder of the same name. */
  async #find(remote: string): Promise<FileEntry | Entry | null> {
    const { name } = splitRemote(remote);
    if (remote === '/') return { name: '', type: 'directory', size: 0, mtime: 0 };
    try {
      const head = await this.#send<{ ContentLength?: number; LastModified?: Date; ETag?: string }>(
        new HeadObjectCommand({ Bucket: this.bucket, Key: fileKey(this.#prefix, remote) }),
        remote,
      );
      return { name, type: 'file', size: head.ContentLength ?? 0, mtime: head.LastModified?.getTime() ?? 0, etag: head.ETag };
    } catch (err) {
      if ((err as FileShareError).code !== 'ENOENT') throw err;
    }
    const page = await this.#listPage(folderKey(this.#prefix, remote), remote, { maxKeys: 1 });
    const first = page.Contents?.[0];
    if (!first) return null;
    const marker = first.Key === folderKey(this.#prefix, remote);
    return { name, type: 'directory', size: 0, mtime: marker ? (first.LastModified?.getTime() ?? 0) : 0 };
  }

  async #requireFolder(remote: string): Promise<void> {
    const entry = await this.#find(remote);
    if (!entry) throw s3StorageError('ENOENT', remote);
    if (entry.type !== 'directory') throw s3StorageError('ENOTDIR', remote);
  }

  async #putMarker(remote: string): Promise<void> {
    await this.#send(
      new PutObjectCommand({ Bucket: this.bucket, Key: folderKey(this.#prefix, remote), Body: Buffer.alloc(0), ContentLength: 0 }),
      remote,
    );
  }

  #listPage(
    prefix: string,
    remote: string,
    options: { delimiter?: boolean; maxKeys?: number; token?: string },
  ): Promise<{ Contents?: _Object[]; CommonPrefixes?: CommonPrefix[]; IsTruncated?: boolean; NextContinuationToken?: string }> {
    return this.#send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        Delimiter: options.delimiter ? '/' : undefined,
        MaxKeys: options.maxKeys ?? this.#context.listPageSize,
        ContinuationToken: options.token,
      }),
      remote,
    );
  }

  /** Every object under a key prefix (no delimiter), page by page. */
  async *#allUnder(prefix: string, remote: string): AsyncGenerator<_Object> {
    let token: string | undefined;
    do {
      const page = await this.#listPage(prefix, remote, { token });
      for (const object of page.Contents ?? []) if (object.Key) yield object;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Delete every object under a key prefix, 1,000 per DeleteObjects call. */
  async #deleteUnder(prefix: string, remote: string): Promise<void> {
    // list first, delete after: deleting while paging can make a listing skip keys
    const keys: string[] = [];
    for await (const object of this.#allUnder(prefix, remote)) keys.push(object.Key!);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      const result = await this.#send<{ Errors?: { Key?: string; Code?: string }[] }>(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }),
        remote,
      );
      const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw s3StorageError('EIO', remote, `${failed.length} objects could not be deleted (${failed[0]?.Code})`);
    }
  }

  /** Server-side copy of one object: CopyObject up to 5 GiB, parallel UploadPartCopy beyond. */
  async #copy(fromKey: string, toKey: string, size: number, remote: string): Promise<void> {
    if (size <= MAX_COPY_OBJECT) {
      await this.#send(new CopyObjectCommand({ Bucket: this.bucket, Key: toKey, CopySource: copySource(this.bucket, fromKey) }), remote);
      return;
    }
    await copyInParts(this.#context, fromKey, toKey, size, remote);
  }
}

/** An entry with the object's ETag, for {@link ReadHandle.version}. */
interface FileEntry extends Entry {
  readonly etag?: string;
}

function fileEntry(name: string, object: _Object): Entry {
  return { name, type: 'file', size: object.Size ?? 0, mtime: object.LastModified?.getTime() ?? 0 };
}

function clientConfig(options: S3StorageOptions, timeout: number, concurrency: number): S3ClientConfig {
  return {
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    // Streamed bodies with the SDK's default checksums are sent aws-chunked, which several
    // S3-compatible servers refuse (radosgw: 411); parts carry Content-MD5 instead
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: Math.min(timeout, 10_000),
      requestTimeout: timeout,
      httpAgent: { maxSockets: Math.max(50, concurrency * 8) },
    },
  };
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`S3Storage: options.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}
