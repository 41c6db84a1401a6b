/**
 * `user add | remove | passwd | list --database URL`: the same commands against the users table
 * of PostgreSQL (fileshare/postgres), for servers that run as several nodes over one database.
 * The table is created on first use; every node sees a change at the user's next login.
 */
import { isFileShareError } from 'fileshare';
import { PostgresAuthProvider } from 'fileshare/postgres';
import { AppError } from './errors.ts';
import { formatBytes, table } from './format.ts';
import { readNewPassword } from './prompt.ts';
import type { UserAddOptions } from './users-command.ts';

const LIVE = 'every node sees it at the next login';

/** Run `fn` with a provider on `url`, closing its pool after; database errors become one line. */
async function withDatabase<T>(url: string, fn: (db: PostgresAuthProvider) => Promise<T>): Promise<T> {
  const db = new PostgresAuthProvider({ pool: url });
  try {
    return await fn(db);
  } catch (err) {
    if (err instanceof AppError || isFileShareError(err)) throw err instanceof AppError ? err : new AppError(err.message);
    throw new AppError(`database ${redact(url)}: ${(err as Error).message}`);
  } finally {
    await db.close().catch(() => {});
  }
}

/** A connection string without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** `user add NAME --database URL [--home DIR] [--permissions LIST] [--quota SIZE] [--max-file-size SIZE]` */
export async function dbUserAdd(url: string, name: string, options: UserAddOptions): Promise<void> {
  await withDatabase(url, async (db) => {
    await db.ready();
    if ((await db.listUsers()).some((u) => u.username === name)) throw new AppError(`user "${name}" already exists in the database`);
    const password = await readNewPassword(name);
    const { home, permissions, quota: quotaBytes, maxFileSize } = options;
    await db.addUser(name, { password, home, permissions, quotaBytes, maxFileSize });
    console.log(`added user ${name} to the database; ${LIVE}`);
  });
}

/** `user remove NAME --database URL` */
export async function dbUserRemove(url: string, name: string): Promise<void> {
  await withDatabase(url, async (db) => {
    if (!(await db.removeUser(name))) throw new AppError(`no user "${name}" in the database`);
    console.log(`removed user ${name} from the database; ${LIVE} (open sessions stay logged in until they disconnect)`);
  });
}

/** `user passwd NAME --database URL` */
export async function dbUserPasswd(url: string, name: string): Promise<void> {
  await withDatabase(url, async (db) => {
    if (!(await db.listUsers()).some((u) => u.username === name)) throw new AppError(`no user "${name}" in the database`);
    await db.setPassword(name, await readNewPassword(name));
    console.log(`changed the password of ${name} in the database; ${LIVE}`);
  });
}

/** `user list --database URL` */
export async function dbUserList(url: string): Promise<void> {
  await withDatabase(url, async (db) => {
    const users = await db.listUsers();
    if (users.length === 0) {
      console.log('no users in the database; add one with: npm start -- user add NAME --database URL');
      return;
    }
    const size = (n: number | undefined) => (n === undefined ? '-' : formatBytes(n));
    const rows = users.map((u) => [
      u.username,
      u.home ? `/${u.home}` : '/',
      u.permissions.join(',') || '-',
      size(u.quotaBytes),
      size(u.maxFileSize),
    ]);
    console.log(table(['name', 'home', 'permissions', 'quota', 'max file'], rows));
  });
}
