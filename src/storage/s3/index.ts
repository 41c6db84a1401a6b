/**
 * `fileshare/s3`: an S3-compatible object store (AWS S3, Ceph radosgw, MinIO, R2, ...) as the
 * server's storage. Needs the optional peer dependencies `@aws-sdk/client-s3` and `hash-wasm`
 * (a SHA-256 whose state can be saved, for resumable uploads):
 * `npm install @aws-sdk/client-s3 hash-wasm`. See docs/scaling.md.
 *
 * @example
 * ```ts
 * import { FileShareServer, MemoryAuthProvider } from 'fileshare';
 * import { S3Storage } from 'fileshare/s3';
 *
 * const storage = new S3Storage({ bucket: 'files', endpoint: 'http://127.0.0.1:7480', credentials: { accessKeyId, secretAccessKey } });
 * const server = new FileShareServer({ root: storage, auth: await MemoryAuthProvider.fromPasswords({ alice: 'pw' }) });
 * ```
 * @packageDocumentation
 */
export { S3Storage, type S3Credentials, type S3StorageOptions } from './s3-storage.ts';
