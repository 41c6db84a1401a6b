/**
 * One user as the built-in providers store it, and the validation shared by the in-memory
 * provider and the users file.
 */
import { FileShareError } from '../errors.ts';
import { BCRYPT_HASH_PATTERN } from './password.ts';
import { ALL_PERMISSIONS, DEFAULT_PERMISSIONS, type AuthenticatedUser, type Permission } from './types.ts';

/** A stored user of the built-in providers (`MemoryAuthProvider`, `JsonFileAuthProvider`). */
export interface UserRecord {
  /** bcrypt hash of the password, from `hashPassword` (`$2a$`, `$2b$` or `$2y$`). */
  passwordHash: string;
  /**
   * Home folder relative to the server's root, POSIX separators (`"alice"`, `"teams/red"`).
   * No `..` segment, not absolute, no backslash or NUL. Default: the whole root.
   */
  home?: string;
  /** What the user may do. Default: `['read', 'write', 'delete']`. */
  permissions?: Permission[];
  /** Storage quota for the home folder, in bytes (a non-negative integer). Default: none. */
  quotaBytes?: number;
  /** Largest file the user may upload, in bytes (a non-negative integer). Default: none. */
  maxFileSize?: number;
}

const USERNAME_PATTERN = /^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}$/;

const RECORD_KEYS: ReadonlySet<string> = new Set(['passwordHash', 'home', 'permissions', 'quotaBytes', 'maxFileSize']);

/**
 * Whether `name` is an acceptable username: 1 to 64 characters of `A-Z a-z 0-9 . _ @ -`,
 * not starting with `.`.
 */
export function isValidUsername(name: unknown): name is string {
  return typeof name === 'string' && USERNAME_PATTERN.test(name);
}

/**
 * Throw `EINVAL` unless `name` is a valid username.
 * @internal
 */
export function checkUsername(name: unknown): asserts name is string {
  if (!isValidUsername(name)) {
    throw new FileShareError(
      'EINVAL',
      `invalid username ${JSON.stringify(name)}: use 1-64 characters of A-Z a-z 0-9 . _ @ -, not starting with "."`,
    );
  }
}

function invalid(name: string, message: string): FileShareError {
  return new FileShareError('EINVAL', `user ${JSON.stringify(name)}: ${message}`);
}

/**
 * Normalize a home folder: drop empty and `.` segments and trailing slashes; `undefined` for
 * the whole root. Throws for `..`, absolute paths, backslashes and NUL.
 * @internal
 */
function parseHome(name: string, home: unknown): string | undefined {
  if (typeof home !== 'string') throw invalid(name, `"home" must be a string, got ${typeof home}`);
  if (home.includes('\0')) throw invalid(name, '"home" must not contain NUL');
  if (home.includes('\\')) throw invalid(name, `"home" must use "/" separators: ${JSON.stringify(home)}`);
  if (home.startsWith('/') || /^[A-Za-z]:/.test(home)) {
    throw invalid(name, `"home" must be relative to the server's root: ${JSON.stringify(home)}`);
  }
  const segments = home.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw invalid(name, `"home" must not contain "..": ${JSON.stringify(home)}`);
  return segments.length === 0 ? undefined : segments.join('/');
}

/**
 * Names that grant nothing and are dropped: `admin`, which users files made by the server app's
 * first start list for their `admin` user, so that such a file still loads.
 */
const IGNORED_PERMISSIONS: ReadonlySet<unknown> = new Set(['admin']);

function parsePermissions(name: string, value: unknown): Permission[] {
  if (!Array.isArray(value)) throw invalid(name, '"permissions" must be an array');
  const result: Permission[] = [];
  for (const p of value) {
    if (IGNORED_PERMISSIONS.has(p)) continue;
    if (!ALL_PERMISSIONS.includes(p as Permission)) {
      throw invalid(name, `unknown permission ${JSON.stringify(p)} (expected one of ${ALL_PERMISSIONS.join(', ')})`);
    }
    if (!result.includes(p as Permission)) result.push(p as Permission);
  }
  return result;
}

function parseSize(name: string, key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(name, `"${key}" must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Validate one user record (from a users file, or given to a provider) and return a clean copy:
 * only the known fields, `home` normalized (`"./alice/"` becomes `"alice"`, `""` the whole
 * root), duplicate permissions dropped. Unknown fields are refused, so that a misspelt
 * `"permisions"` cannot silently grant the default permissions.
 *
 * @param name - the username, for the error message (and validated too)
 * @param value - the record to check
 * @throws FileShareError `EINVAL` with a message naming the user and the field: invalid username,
 *   not an object, unknown field, `passwordHash` not a bcrypt hash, unknown permission, `home`
 *   absolute or with `..` or NUL, negative or fractional `quotaBytes`/`maxFileSize`
 */
export function parseUserRecord(name: string, value: unknown): UserRecord {
  checkUsername(name);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(name, 'record must be an object');
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!RECORD_KEYS.has(key)) throw invalid(name, `unknown field ${JSON.stringify(key)}`);
  }
  const { passwordHash } = input;
  if (typeof passwordHash !== 'string') throw invalid(name, `"passwordHash" must be a string, got ${typeof passwordHash}`);
  if (!BCRYPT_HASH_PATTERN.test(passwordHash)) throw invalid(name, '"passwordHash" is not a bcrypt hash ($2a$/$2b$/$2y$)');
  const record: UserRecord = { passwordHash };
  if (input.home !== undefined) {
    const home = parseHome(name, input.home);
    if (home !== undefined) record.home = home;
  }
  if (input.permissions !== undefined) record.permissions = parsePermissions(name, input.permissions);
  if (input.quotaBytes !== undefined) record.quotaBytes = parseSize(name, 'quotaBytes', input.quotaBytes);
  if (input.maxFileSize !== undefined) record.maxFileSize = parseSize(name, 'maxFileSize', input.maxFileSize);
  return record;
}

/**
 * The {@link AuthenticatedUser} for a stored record: `home`, `quotaBytes` and `maxFileSize` only
 * when set, `permissions` always (the default filled in). Frozen, with its own permissions array.
 * Every built-in provider (memory, users file, PostgreSQL) turns its records into users here, so
 * that the default permissions are filled in one place; the server fills the same default for a
 * custom provider whose users come without permissions.
 */
export function toAuthenticatedUser(username: string, record: UserRecord): AuthenticatedUser {
  return Object.freeze({
    username,
    ...(record.home !== undefined && { home: record.home }),
    permissions: Object.freeze([...(record.permissions ?? DEFAULT_PERMISSIONS)]),
    ...(record.quotaBytes !== undefined && { quotaBytes: record.quotaBytes }),
    ...(record.maxFileSize !== undefined && { maxFileSize: record.maxFileSize }),
  });
}
