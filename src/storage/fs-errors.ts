/**
 * Errors of the local-folder backend. Messages name the REMOTE path only: the server's own
 * file-system paths must never reach a client. The original Node error (which does contain them)
 * is kept as `cause`, for the server's logs.
 * @internal
 * @module
 */
import { FileShareError, type FileShareErrorCode, toFileShareError } from '../errors.ts';

const MESSAGES: Partial<Record<FileShareErrorCode, string>> = {
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  ENOTDIR: 'not a folder',
  EISDIR: 'is a folder',
  ENOTEMPTY: 'folder not empty',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  ENOSPC: 'no space left on the server for',
  ETOOLARGE: 'file too large',
  EBUSY: 'busy', // was 'input/output error on', which it is not
};

/** The Node error code (`'ENOENT'`, ...) of a thrown value, if any. @internal */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A FileShareError with the standard message for `code`, naming `remote`. @internal */
export function storageError(code: FileShareErrorCode, remote: string, detail?: string, cause?: unknown): FileShareError {
  const what = MESSAGES[code] ?? 'input/output error on';
  const message = `${what}: ${remote}${detail ? ` (${detail})` : ''}`;
  return new FileShareError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * Map anything thrown by `node:fs` to a FileShareError about `remote`. FileShareErrors pass through
 * unchanged (they were built with remote paths already). Node's `ENOTEMPTY` sometimes comes as
 * `EEXIST` from rmdir: callers that care pass `overrides`.
 * @internal
 */
export function fsError(err: unknown, remote: string, overrides?: Partial<Record<string, FileShareErrorCode>>): FileShareError {
  if (err instanceof FileShareError) return err;
  const node = errnoCode(err);
  const code = (node !== undefined ? overrides?.[node] : undefined) ?? toFileShareError(err).code;
  return storageError(code, remote, undefined, err);
}

/** `true` for "no such file" style errors (the path, or one of its parents, is missing). @internal */
export function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
