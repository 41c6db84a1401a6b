/**
 * The users file of `JsonFileAuthProvider`: reading, validating, atomic writing, and the
 * small editing helpers behind the example server's `user add/remove/passwd/list` commands.
 *
 * Format (UTF-8 JSON; `home` and `permissions` are optional and default to the whole root and
 * `["read", "write", "delete"]`; `quotaBytes` and `maxFileSize` are optional byte counts):
 *
 * ```json
 * { "users": { "alice": { "passwordHash": "$2b$...", "home": "alice", "permissions": ["read", "write", "delete"] } } }
 * ```
 *
 * Usernames are 1-64 characters of `A-Z a-z 0-9 . _ @ -`, not starting with `.`. Unknown fields
 * are refused. The editing helpers serialize their own read-modify-write cycles within one
 * process; they take no lock against other processes editing the same file.
 *
 * @see {@link UserRecord} for the rules of each field.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileShareError, toFileShareError } from '../errors.ts';
import { hashPassword, type HashPasswordOptions } from './password.ts';
import { DEFAULT_PERMISSIONS, type Permission } from './types.ts';
import { checkUsername, parseUserRecord, type UserRecord } from './user-record.ts';

/** Options of {@link addUser}: the optional fields of the record, and the bcrypt cost. */
export interface AddUserOptions extends HashPasswordOptions {
  /** Home folder relative to the server's root. Default: the whole root. */
  home?: string;
  /** Permissions. Default: `['read', 'write', 'delete']`. */
  permissions?: Permission[];
  /** Storage quota in bytes. Default: none. */
  quotaBytes?: number;
  /** Largest upload in bytes. Default: none. */
  maxFileSize?: number;
}

/** One line of {@link listUsers}: a user without its password hash, permissions filled in. */
export interface UserListEntry {
  /** The username. */
  username: string;
  /** Home folder, when not the whole root. */
  home?: string;
  /** Permissions (the default when the file does not say). */
  permissions: Permission[];
  /** Storage quota in bytes, when set. */
  quotaBytes?: number;
  /** Largest upload in bytes, when set. */
  maxFileSize?: number;
}

/**
 * Validate a parsed users document and return its users, each record cleaned by
 * {@link parseUserRecord}.
 * @param doc - the parsed JSON
 * @param source - where it came from, for error messages
 * @throws FileShareError `EINVAL`, the message starting with `source`
 * @internal
 */
export function parseUsersDocument(doc: unknown, source: string): Record<string, UserRecord> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new FileShareError('EINVAL', `${source}: expected an object { "users": { ... } }`);
  }
  for (const key of Object.keys(doc)) {
    if (key !== 'users') throw new FileShareError('EINVAL', `${source}: unknown top-level field ${JSON.stringify(key)}`);
  }
  const users = (doc as { users?: unknown }).users;
  if (typeof users !== 'object' || users === null || Array.isArray(users)) {
    throw new FileShareError('EINVAL', `${source}: "users" must be an object of username to record`);
  }
  const entries: Array<[string, UserRecord]> = [];
  for (const [name, value] of Object.entries(users)) {
    try {
      entries.push([name, parseUserRecord(name, value)]);
    } catch (err) {
      const e = toFileShareError(err, 'EINVAL');
      throw new FileShareError(e.code, `${source}: ${e.message}`, { cause: err });
    }
  }
  // fromEntries defines own properties, so even a user named "__proto__" stays a plain entry.
  return Object.fromEntries(entries);
}

/**
 * Read and validate a users file.
 *
 * @param path - the users file
 * @returns the users by name, each record validated and normalized
 * @throws FileShareError `ENOENT` if the file does not exist; `EINVAL` for invalid JSON (the
 *   message gives the path and the parser's error) or an invalid document or record; other
 *   codes for other I/O failures
 */
export async function readUsersFile(path: string): Promise<Record<string, UserRecord>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new FileShareError('ENOENT', `users file not found: ${path}`, { cause: err });
    }
    throw toFileShareError(err);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new FileShareError('EINVAL', `${path}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseUsersDocument(doc, path);
}

/**
 * Write a users file atomically: validate every record, write a temporary file with mode `0o600`
 * in the same folder, fsync it, and rename it over `path`. A reader (such as a running
 * `JsonFileAuthProvider`) sees the old file or the new one, never half of one.
 *
 * @param path - the users file (its folder must exist)
 * @param users - the users by name
 * @throws FileShareError `EINVAL` for an invalid username or record; other codes for I/O failures
 */
export async function writeUsersFile(path: string, users: Record<string, UserRecord>): Promise<void> {
  const clean = parseUsersDocument({ users }, path);
  const text = `${JSON.stringify({ users: clean }, null, 2)}\n`;
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw toFileShareError(err);
  }
  await syncFolder(dir);
}

/** Make the rename durable. Best effort: not every platform can fsync a folder. */
async function syncFolder(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Windows and some file systems refuse; the rename itself is still atomic.
  }
}

const editQueues = new Map<string, Promise<unknown>>();

/**
 * Run read-modify-write edits of one file one after the other (within this process).
 * @internal
 */
function editSerially<T>(path: string, edit: () => Promise<T>): Promise<T> {
  const key = resolve(path);
  const previous = editQueues.get(key) ?? Promise.resolve();
  const run = previous.then(edit);
  const settled = run.catch(() => undefined);
  editQueues.set(key, settled);
  void settled.then(() => {
    if (editQueues.get(key) === settled) editQueues.delete(key);
  });
  return run;
}

async function readUsersOrEmpty(path: string): Promise<Record<string, UserRecord>> {
  try {
    return await readUsersFile(path);
  } catch (err) {
    if (err instanceof FileShareError && err.code === 'ENOENT') return {};
    throw err;
  }
}

function hasUser(users: Record<string, UserRecord>, name: string): boolean {
  return Object.hasOwn(users, name);
}

/** `users` with `name` set to `record`: replaced in place, or appended. */
function withUser(users: Record<string, UserRecord>, name: string, record: UserRecord): Record<string, UserRecord> {
  const entries = Object.entries(users).map(([n, r]): [string, UserRecord] => [n, n === name ? record : r]);
  if (!hasUser(users, name)) entries.push([name, record]);
  return Object.fromEntries(entries);
}

/** A well-formed hash that matches nothing, to validate the other fields before hashing. */
const PLACEHOLDER_HASH = `$2b$10$${'.'.repeat(53)}`;

/**
 * Add a user to a users file, creating the file if it is missing.
 *
 * @param path - the users file
 * @param name - the new username
 * @param password - the plain password (hashed with bcrypt; 1 to 72 bytes in UTF-8)
 * @param options - {@link AddUserOptions}
 * @throws FileShareError `EEXIST` if the user exists; `EINVAL` for an invalid name, password or option
 * @throws TypeError for an invalid `cost`
 *
 * @example
 * ```ts
 * await addUser('./users.json', 'alice', 's3cret', { home: 'alice', permissions: ['read', 'write'] });
 * ```
 */
export function addUser(path: string, name: string, password: string, options: AddUserOptions = {}): Promise<void> {
  return editSerially(path, async () => {
    checkUsername(name);
    const { cost, ...fields } = options;
    const users = await readUsersOrEmpty(path);
    if (hasUser(users, name)) throw new FileShareError('EEXIST', `user ${JSON.stringify(name)} already exists in ${path}`);
    const draft = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    // Validate the fields before spending a hash on them.
    parseUserRecord(name, { ...draft, passwordHash: PLACEHOLDER_HASH });
    const record = parseUserRecord(name, { ...draft, passwordHash: await hashPassword(password, { cost }) });
    await writeUsersFile(path, withUser(users, name, record));
  });
}

/**
 * Remove a user from a users file.
 * @throws FileShareError `ENOENT` if the file or the user does not exist
 */
export function removeUser(path: string, name: string): Promise<void> {
  return editSerially(path, async () => {
    const users = await readUsersFile(path);
    if (!hasUser(users, name)) throw new FileShareError('ENOENT', `no user ${JSON.stringify(name)} in ${path}`);
    await writeUsersFile(path, Object.fromEntries(Object.entries(users).filter(([n]) => n !== name)));
  });
}

/**
 * Change a user's password in a users file, keeping the other fields.
 * @param options - bcrypt cost for the new hash
 * @throws FileShareError `ENOENT` if the file or the user does not exist; `EINVAL` for an invalid password
 * @throws TypeError for an invalid `cost`
 */
export function setUserPassword(path: string, name: string, password: string, options: HashPasswordOptions = {}): Promise<void> {
  return editSerially(path, async () => {
    const users = await readUsersFile(path);
    const current = hasUser(users, name) ? users[name] : undefined;
    if (current === undefined) throw new FileShareError('ENOENT', `no user ${JSON.stringify(name)} in ${path}`);
    const passwordHash = await hashPassword(password, options);
    await writeUsersFile(path, withUser(users, name, { ...current, passwordHash }));
  });
}

/**
 * List the users of a users file, sorted by name, without password hashes.
 * @throws FileShareError `ENOENT` if the file does not exist; `EINVAL` if it is invalid
 */
export async function listUsers(path: string): Promise<UserListEntry[]> {
  const users = await readUsersFile(path);
  return Object.entries(users)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([username, r]) => ({
      username,
      ...(r.home !== undefined && { home: r.home }),
      permissions: [...(r.permissions ?? DEFAULT_PERMISSIONS)],
      ...(r.quotaBytes !== undefined && { quotaBytes: r.quotaBytes }),
      ...(r.maxFileSize !== undefined && { maxFileSize: r.maxFileSize }),
    }));
}
