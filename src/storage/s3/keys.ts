/**
 * Object keys of the S3 backend. A remote path is first normalised by the core
 * (`normalizeRemotePath`: no `..`, no empty or `.` components, no internal names), so its
 * components can be joined under the storage's prefix as they are: every key built here starts
 * with that prefix, whatever the client sent (backslashes, `%2e%2e`, Unicode are plain characters
 * in a key). A folder is the key prefix `<path>/`; an empty folder is kept by a zero-byte marker
 * object with that key.
 * @internal
 * @module
 */
import { normalizeRemotePath } from 'fileshare';

/**
 * Names starting with this are internal: the core refuses them in every client path and hides
 * them from listings (the temporary-name prefix of the core), so the state kept under it can never
 * be named, listed or overwritten by a user.
 * @internal
 */
export const INTERNAL_PREFIX = '.fileshare-part-';

/** Folder (key prefix) of the backend's own objects, under the root prefix. @internal */
export const STATE_FOLDER = `${INTERNAL_PREFIX}s3-state/`;

/** Check and normalise a configured key prefix: `''` or `a/b/` (always ending in `/`). @internal */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  if (typeof prefix !== 'string') throw new TypeError('S3Storage: options.prefix must be a string');
  const normalized = normalizeRemotePath(`/${prefix}`);
  return normalized === '/' ? '' : `${normalized.slice(1)}/`;
}

/** Key of the file at a normalised remote path. @internal */
export function fileKey(prefix: string, remote: string): string {
  return `${prefix}${remote.slice(1)}`;
}

/** Key prefix of the folder at a normalised remote path (`prefix` itself for `/`). @internal */
export function folderKey(prefix: string, remote: string): string {
  return remote === '/' ? prefix : `${prefix}${remote.slice(1)}/`;
}

/**
 * The name of a listed key or common prefix directly under `folder`, or null when it must not be
 * shown: internal objects, and keys written by other tools that no remote path can name (an empty
 * component from `a//b`, `.` or `..`, names over 255 bytes).
 * @internal
 */
export function childName(folder: string, key: string): string | null {
  if (!key.startsWith(folder)) return null;
  let name = key.slice(folder.length);
  if (name.endsWith('/')) name = name.slice(0, -1);
  if (name === '' || name === '.' || name === '..' || name.includes('/')) return null;
  if (name.startsWith(INTERNAL_PREFIX) || Buffer.byteLength(name) > 255 || name.includes('\0')) return null;
  return name;
}

/** The `CopySource` header value for a key: bucket and key, URL-encoded except for slashes. @internal */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
}

/** Base name and parent of a normalised remote path (`/` is its own parent). @internal */
export function splitRemote(remote: string): { parent: string; name: string } {
  const i = remote.lastIndexOf('/');
  return { parent: i <= 0 ? '/' : remote.slice(0, i), name: remote.slice(i + 1) };
}
