/**
 * Errors of the S3 backend: SDK failures mapped to fileshare codes, with messages that name the
 * remote path only (bucket names, keys and endpoints stay in `cause`, for the server's logs).
 * @internal
 * @module
 */
import { FileShareError, type FileShareErrorCode } from 'fileshare';

const MESSAGES: Partial<Record<FileShareErrorCode, string>> = {
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  ENOTDIR: 'not a folder',
  EISDIR: 'is a folder',
  ENOTEMPTY: 'folder not empty',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  ETIMEDOUT: 'the object store did not answer in time for',
};

/** A FileShareError with the standard message for `code`, naming `remote`. @internal */
export function s3StorageError(code: FileShareErrorCode, remote: string, detail?: string, cause?: unknown): FileShareError {
  const what = MESSAGES[code] ?? 'object store error on';
  return new FileShareError(code, `${what}: ${remote}${detail ? ` (${detail})` : ''}`, cause === undefined ? undefined : { cause });
}

/** The S3 error name (`NoSuchKey`, `PreconditionFailed`, ...) and HTTP status of an SDK error. @internal */
export function s3ErrorInfo(err: unknown): { name: string; status: number | undefined } {
  const e = err as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  const name = typeof e?.Code === 'string' ? e.Code : typeof e?.name === 'string' ? e.name : '';
  return { name, status: e?.$metadata?.httpStatusCode };
}

/** `true` for "this key (or upload) does not exist". radosgw says NoSuchKey where AWS says NoSuchUpload. @internal */
export function isS3Missing(err: unknown): boolean {
  const { name, status } = s3ErrorInfo(err);
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload' || status === 404;
}

/** `true` for a failed condition (`If-None-Match: *` on an existing key). @internal */
export function isPreconditionFailed(err: unknown): boolean {
  const { name, status } = s3ErrorInfo(err);
  return name === 'PreconditionFailed' || status === 412;
}

/**
 * Map an SDK failure to a FileShareError about `remote`: a missing key is `ENOENT`, a failed
 * condition `EEXIST`, a call past its timeout `ETIMEDOUT`; anything else (credentials, a missing
 * bucket, a server error) is `EIO`, because it is the operator's problem, not the user's.
 * @internal
 */
export function s3Error(err: unknown, remote: string): FileShareError {
  if (err instanceof FileShareError) return err;
  const { name, status } = s3ErrorInfo(err);
  if (isS3Missing(err) && name !== 'NoSuchBucket') return s3StorageError('ENOENT', remote, undefined, err);
  if (isPreconditionFailed(err)) return s3StorageError('EEXIST', remote, undefined, err);
  if (name === 'AbortError' || name === 'TimeoutError' || name === 'RequestTimeout')
    return s3StorageError('ETIMEDOUT', remote, undefined, err);
  return s3StorageError('EIO', remote, `${name || 'error'}${status ? ` ${status}` : ''}`, err);
}
