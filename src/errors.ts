/**
 * Every failure fileshare reports, on either side of the wire, is a {@link FileShareError}
 * with one of these stable string codes. Match on `code`, never on `message`.
 *
 * | code | meaning |
 * |---|---|
 * | `EAUTH` | bad credentials (unknown user or wrong password: deliberately indistinguishable) |
 * | `ENOTAUTH` | a command other than login or ping was sent before logging in |
 * | `ETHROTTLED` | too many failed logins from this address or for this user; retry later |
 * | `ENOENT` | no such file or folder |
 * | `EEXIST` | the target already exists (uploads without `overwrite`, mkdir, rename) |
 * | `ENOTDIR` | a path component, or the target of a folder operation, is not a folder |
 * | `EISDIR` | a file operation was aimed at a folder |
 * | `ENOTEMPTY` | rmdir of a non-empty folder without `recursive` |
 * | `EACCES` | no permission, or the path is outside the user's root |
 * | `EINVAL` | an argument is malformed (bad path string, bad option value) |
 * | `EINTEGRITY` | the SHA-256 of the received bytes does not match the sender's |
 * | `EPROTO` | malformed frame, unknown message, protocol version mismatch, flow-control violation |
 * | `ETOOLARGE` | a file or frame exceeds a configured maximum |
 * | `EQUOTA` | the user's storage quota would be exceeded |
 * | `ENOSPC` | the server's disk is full |
 * | `EBUSY` | a server limit was hit (connections, requests in flight); retry later |
 * | `ETIMEDOUT` | a connect, handshake, request or ping did not complete in time |
 * | `ETLS` | the TLS handshake failed: untrusted certificate, or not the pinned fingerprint |
 * | `ECLOSED` | the connection is closed or was lost |
 * | `EABORTED` | the operation was cancelled through an `AbortSignal` or by the peer |
 * | `EIO` | an unexpected server-side failure (details are logged on the server, not sent) |
 */
export type FileShareErrorCode =
  | 'EAUTH'
  | 'ENOTAUTH'
  | 'ETHROTTLED'
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EACCES'
  | 'EINVAL'
  | 'EINTEGRITY'
  | 'EPROTO'
  | 'ETOOLARGE'
  | 'EQUOTA'
  | 'ENOSPC'
  | 'EBUSY'
  | 'ETIMEDOUT'
  | 'ETLS'
  | 'ECLOSED'
  | 'EABORTED'
  | 'EIO';

/** All codes, for validation of codes received from a peer. */
export const ERROR_CODES: ReadonlySet<FileShareErrorCode> = new Set<FileShareErrorCode>([
  'EAUTH',
  'ENOTAUTH',
  'ETHROTTLED',
  'ENOENT',
  'EEXIST',
  'ENOTDIR',
  'EISDIR',
  'ENOTEMPTY',
  'EACCES',
  'EINVAL',
  'EINTEGRITY',
  'EPROTO',
  'ETOOLARGE',
  'EQUOTA',
  'ENOSPC',
  'EBUSY',
  'ETIMEDOUT',
  'ETLS',
  'ECLOSED',
  'EABORTED',
  'EIO',
]);

/**
 * The one error class of fileshare. `code` is stable and documented; `message` is for humans.
 *
 * @example
 * ```ts
 * try { await client.download('/missing.txt', './out.txt'); }
 * catch (err) { if (err instanceof FileShareError && err.code === 'ENOENT') console.log('no such file'); }
 * ```
 */
export class FileShareError extends Error {
  /** Stable machine-readable code; see {@link FileShareErrorCode}. */
  readonly code: FileShareErrorCode;

  /**
   * Create an error with a stable code.
   * @param code - stable code
   * @param message - human-readable explanation
   * @param options - optional `cause` (the underlying error)
   */
  constructor(code: FileShareErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FileShareError';
    this.code = code;
  }
}

/** Type guard: is `err` a {@link FileShareError}, optionally with the given code? */
export function isFileShareError(err: unknown, code?: FileShareErrorCode): err is FileShareError {
  return err instanceof FileShareError && (code === undefined || err.code === code);
}

const NODE_TO_CODE: Record<string, FileShareErrorCode> = {
  ENOENT: 'ENOENT',
  EEXIST: 'EEXIST',
  ENOTDIR: 'ENOTDIR',
  EISDIR: 'EISDIR',
  ENOTEMPTY: 'ENOTEMPTY',
  EACCES: 'EACCES',
  EPERM: 'EACCES',
  ELOOP: 'EACCES',
  ENOSPC: 'ENOSPC',
  EDQUOT: 'ENOSPC',
  EFBIG: 'ETOOLARGE',
  ENAMETOOLONG: 'EINVAL',
  EINVAL: 'EINVAL',
};

/**
 * Map any thrown value to a FileShareError. Node's fs error codes keep their meaning;
 * anything unrecognised becomes `EIO` (or `fallback`). The original error is kept as `cause`.
 * @internal
 */
export function toFileShareError(err: unknown, fallback: FileShareErrorCode = 'EIO'): FileShareError {
  if (err instanceof FileShareError) return err;
  const nodeCode = (err as { code?: unknown } | null)?.code;
  const code = typeof nodeCode === 'string' ? NODE_TO_CODE[nodeCode] : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new FileShareError(code ?? fallback, message, { cause: err });
}
