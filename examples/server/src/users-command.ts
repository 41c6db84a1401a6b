/**
 * `user add | remove | passwd | list`: edit the users file with the library's helpers. A running
 * server (JsonFileAuthProvider) notices the change within a second: no restart needed.
 */
import { existsSync } from 'node:fs';
import {
  ALL_PERMISSIONS,
  addUser,
  isFileShareError,
  listUsers,
  removeUser,
  setUserPassword,
  type Permission,
  type UserListEntry,
} from 'fileshare';
import { InvalidArgumentError } from 'commander';
import { AppError } from './errors.ts';
import { formatBytes, table } from './format.ts';
import { readNewPassword } from './prompt.ts';

const LIVE = 'a running server picks this up within a second';

/** `--permissions read,write`: a comma-separated subset of read, write, delete. */
export function parsePermissions(value: string): Permission[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = items.filter((p) => !ALL_PERMISSIONS.includes(p as Permission));
  if (items.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`expected a comma-separated list of ${ALL_PERMISSIONS.join(', ')}.`);
  }
  return [...new Set(items)] as Permission[];
}

/**
 * The username rule of the users file (documented in the library's users-file.ts), checked here
 * only to fail before asking for a password; the library stays the authority.
 */
const USERNAME = /^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}$/;

function checkName(name: string): void {
  if (!USERNAME.test(name))
    throw new AppError(`invalid username "${name}": use 1-64 characters of A-Z a-z 0-9 . _ @ -, not starting with "."`);
}

/** The users in the file, or none when it does not exist yet. */
async function currentUsers(file: string): Promise<UserListEntry[]> {
  return existsSync(file) ? listUsers(file) : [];
}

function describe(u: UserListEntry): string {
  return [
    `home: ${u.home ? `/${u.home}` : '/ (the whole root)'}`,
    `permissions: ${u.permissions.join(', ') || 'none'}`,
    u.quotaBytes !== undefined && `quota: ${formatBytes(u.quotaBytes)}`,
    u.maxFileSize !== undefined && `max file size: ${formatBytes(u.maxFileSize)}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** Options of `user add`, as parsed by commander. */
export interface UserAddOptions {
  home?: string;
  permissions?: Permission[];
  /** Storage quota of the user's home, bytes. */
  quota?: number;
  /** Largest file the user may upload, bytes. */
  maxFileSize?: number;
}

/** `user add NAME [--home DIR] [--permissions LIST] [--quota SIZE] [--max-file-size SIZE]` */
export async function userAdd(file: string, name: string, options: UserAddOptions): Promise<void> {
  checkName(name);
  if ((await currentUsers(file)).some((u) => u.username === name)) {
    throw new AppError(`user "${name}" already exists in ${file} (change the password with "user passwd ${name}")`);
  }
  const pw = await readNewPassword(name);
  const { home, permissions, quota: quotaBytes, maxFileSize } = options;
  await addUser(file, name, pw, { home, permissions, quotaBytes, maxFileSize });
  const added = (await listUsers(file)).find((u) => u.username === name)!;
  console.log(`added user ${name} to ${file} (${describe(added)}); ${LIVE}`);
}

/** `user remove NAME` */
export async function userRemove(file: string, name: string): Promise<void> {
  await withFile(file, () => removeUser(file, name));
  console.log(`removed user ${name} from ${file}; ${LIVE} (open sessions stay logged in until they disconnect)`);
}

/** `user passwd NAME` */
export async function userPasswd(file: string, name: string): Promise<void> {
  const users = await withFile(file, () => listUsers(file));
  if (!users.some((u) => u.username === name)) throw new AppError(`no user "${name}" in ${file}`);
  const pw = await readNewPassword(name);
  await setUserPassword(file, name, pw);
  console.log(`changed the password of ${name} in ${file}; ${LIVE}`);
}

/** `user list` */
export async function userList(file: string): Promise<void> {
  const users = await withFile(file, () => listUsers(file));
  if (users.length === 0) {
    console.log(`no users in ${file}; add one with: npm start -- user add NAME`);
    return;
  }
  const rows = users.map((u) => [u.username, u.home ? `/${u.home}` : '/', u.permissions.join(',') || '-']);
  // quota columns only when someone has a limit: the common case stays a three-column table
  if (users.some((u) => u.quotaBytes !== undefined || u.maxFileSize !== undefined)) {
    const size = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
    users.forEach((u, i) => rows[i]!.push(size(u.quotaBytes), size(u.maxFileSize)));
    console.log(table(['name', 'home', 'permissions', 'quota', 'max file'], rows));
  } else {
    console.log(table(['name', 'home', 'permissions'], rows));
  }
}

/** Turn "users file not found" into advice. */
async function withFile<T>(file: string, run: () => Promise<T>): Promise<T> {
  if (!existsSync(file)) {
    throw new AppError(`${file} does not exist: start the server once (it creates the user admin) or run "user add NAME"`);
  }
  try {
    return await run();
  } catch (err) {
    if (isFileShareError(err) && err.code === 'EINVAL') throw new AppError(`${err.message} (fix or restore the users file)`);
    throw err;
  }
}
