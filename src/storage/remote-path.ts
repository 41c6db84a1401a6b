/**
 * Remote paths: the POSIX strings clients send. `/` is the user's root (chroot-like); a path is
 * normalised before anything touches storage, and one that tries to leave the root or to name an
 * internal temporary file is refused (docs/protocol.md §3). Pure functions: no file system access.
 * @module
 */
import { FileShareError } from '../errors.ts';
import { isTempName } from './temp-names.ts';

/** Longest accepted remote path, in UTF-8 bytes (Linux `PATH_MAX`). */
export const MAX_PATH_BYTES = 4096;
/** Longest accepted path component, in UTF-8 bytes (`NAME_MAX` of common filesystems). */
export const MAX_NAME_BYTES = 255;
/**
 * Most components in an accepted path. Every lookup checks each folder on the way against
 * symbolic links leading out of the root, so its cost grows with the depth: without a bound, one
 * recursive `mkdir` of 2,000 one-letter folders (4 KiB of path) would keep a server busy for minutes.
 */
export const MAX_PATH_DEPTH = 128;

const LONE_SURROGATE = /\p{Surrogate}/u;

/** Show (a bounded prefix of) a client-supplied path in an error message. */
function quote(input: string): string {
  return JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}...` : input);
}

/**
 * Normalise a client-supplied path to an absolute POSIX path inside the user's root.
 *
 * Relative input is taken relative to `/`; `.`, `..`, repeated and trailing slashes are resolved.
 * The result is `/` or `/a/b` (no trailing slash, no empty, `.` or `..` components).
 *
 * @throws FileShareError `EINVAL` for a non-string, an empty string, a NUL byte, a lone UTF-16
 *   surrogate (not representable as a file name), more than 4096 bytes (`MAX_PATH_BYTES`) in UTF-8,
 *   a component over 255 bytes (`MAX_NAME_BYTES`), or more than 128 components (`MAX_PATH_DEPTH`).
 * @throws FileShareError `EACCES` when `..` climbs above `/`, or a component is an internal
 *   temporary name (one starting with `.fileshare-part-`, which holds an upload in progress).
 *
 * @example
 * ```ts
 * normalizeRemotePath('a/./b//c/'); // '/a/b/c'
 * normalizeRemotePath('/a/../../b'); // throws EACCES
 * ```
 */
export function normalizeRemotePath(input: string): string {
  if (typeof input !== 'string') throw new FileShareError('EINVAL', `a path must be a string, got ${typeof input}`);
  if (input.length === 0) throw new FileShareError('EINVAL', 'the path is empty');
  if (input.includes('\0')) throw new FileShareError('EINVAL', `the path contains a NUL byte: ${quote(input)}`);
  if (LONE_SURROGATE.test(input)) throw new FileShareError('EINVAL', `the path is not valid Unicode: ${quote(input)}`);
  if (Buffer.byteLength(input) > MAX_PATH_BYTES) {
    throw new FileShareError('EINVAL', `the path is longer than ${MAX_PATH_BYTES} bytes: ${quote(input)}`);
  }
  const out: string[] = [];
  for (const part of input.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new FileShareError('EACCES', `the path leads outside the root: ${quote(input)}`);
      out.pop();
      continue;
    }
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) {
      throw new FileShareError('EINVAL', `a path component is longer than ${MAX_NAME_BYTES} bytes: ${quote(input)}`);
    }
    if (isTempName(part)) throw new FileShareError('EACCES', `the path names an internal temporary file: ${quote(input)}`);
    out.push(part);
  }
  if (out.length > MAX_PATH_DEPTH) {
    throw new FileShareError('EINVAL', `the path is more than ${MAX_PATH_DEPTH} folders deep: ${quote(input)}`);
  }
  return `/${out.join('/')}`;
}

/**
 * Join a folder and a name (or a relative path) and normalise the result.
 * `name` is always taken relative to `dir`, even if it starts with `/`.
 * @example `joinRemote('/a', 'b.txt')` is `'/a/b.txt'`; `joinRemote('/a', '../c')` is `'/c'`.
 * @throws FileShareError as {@link normalizeRemotePath}.
 */
export function joinRemote(dir: string, name: string): string {
  return normalizeRemotePath(`${normalizeRemotePath(dir)}/${name}`);
}

/**
 * The last component of a path, `''` for the root.
 * @example `remoteBasename('/a/b.txt')` is `'b.txt'`.
 * @throws FileShareError as {@link normalizeRemotePath}.
 */
export function remoteBasename(path: string): string {
  const p = normalizeRemotePath(path);
  return p.slice(p.lastIndexOf('/') + 1);
}

/**
 * The folder containing a path; the root is its own parent.
 * @example `remoteDirname('/a/b.txt')` is `'/a'`; `remoteDirname('/a')` is `'/'`.
 * @throws FileShareError as {@link normalizeRemotePath}.
 */
export function remoteDirname(path: string): string {
  const p = normalizeRemotePath(path);
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** The components of a normalised path: `[]` for `/`, `['a', 'b']` for `/a/b`. @internal */
export function remoteComponents(normalized: string): string[] {
  return normalized === '/' ? [] : normalized.slice(1).split('/');
}
