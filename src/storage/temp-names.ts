/**
 * Names of the temporary files that hold uploads in progress. They live beside their target,
 * are hidden from listings and can never be named by a client (docs/protocol.md §3).
 * @module
 */
import { randomUUID } from 'node:crypto';

/** Every internal temporary file name starts with this prefix. */
export const TEMP_PREFIX = '.fileshare-part-';

/**
 * How many bytes of the target's name are kept in a temporary name: enough to recognise it when
 * looking at the folder, small enough to stay under the name limits of every filesystem
 * (255 bytes, 143 on eCryptfs) once the prefix and the random part are added.
 * @internal
 */
export const TEMP_NAME_KEPT_BYTES = 100;

/** Is `name` (one path component) an internal temporary file name? */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/**
 * A fresh temporary name for an upload to `basename`:
 * `.fileshare-part-<16 random hex digits>-<basename truncated>`.
 * @internal
 */
export function makeTempName(basename: string): string {
  return `${TEMP_PREFIX}${randomHex16()}-${truncateUtf8(basename, TEMP_NAME_KEPT_BYTES)}`;
}

/**
 * 16 hex digits (64 bits) from the CSPRNG. `randomUUID` draws from a cached block of random bytes,
 * where `randomBytes(8)` is a call into OpenSSL per name: one per upload adds up on small files.
 * Its random digits are all but the version digit (the 13th) and the variant digit (the 17th).
 */
function randomHex16(): string {
  const uuid = randomUUID(); // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx
  return uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(15, 18) + uuid.slice(20, 21);
}

/** The longest prefix of `s` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. @internal */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    bytes += n;
    out += ch;
  }
  return out;
}

/** Prefix of the partial files of resumable uploads: `.fileshare-part-r-<key>`. @internal */
export const RESUMABLE_PREFIX = `${TEMP_PREFIX}r-`;

/** The stable temporary name of the resumable upload `key`. @internal */
export function resumableTempName(key: string): string {
  return `${RESUMABLE_PREFIX}${key}`;
}

/** Is `name` the partial file of a resumable upload? @internal */
export function isResumableTempName(name: string): boolean {
  return name.startsWith(RESUMABLE_PREFIX);
}

/** Resume keys: 16 to 64 lowercase hex digits. @internal */
export const RESUME_KEY_PATTERN = /^[0-9a-f]{16,64}$/;
