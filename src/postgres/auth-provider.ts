/**
 * Users in PostgreSQL: one row per user with a bcrypt hash, home, permissions and limits, shared
 * by every server node. Changes take effect at the next login on every node.
 * @module
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import {
  type AuthenticatedUser,
  type AuthProvider,
  FileShareError,
  hashPassword,
  isValidUsername,
  ALL_PERMISSIONS,
  DEFAULT_PERMISSIONS,
  parseUserRecord,
  type Permission,
  type ResumableUser,
  toAuthenticatedUser,
  verifyPassword,
} from 'fileshare';
import { migrate, quoteIdent } from './migration.ts';

/** Options of {@link PostgresAuthProvider}. */
export interface PostgresAuthProviderOptions {
  /** A `pg` pool to use (not ended by `close()`), or a connection string (`postgres://user@host:port/db`) for a pool of its own. */
  readonly pool: pg.Pool | string;
  /** Schema holding the fileshare tables. @default 'public' */
  readonly schema?: string;
  /** Run {@link migrate} before the first query. @default true */
  readonly migrate?: boolean;
  /** bcrypt cost of hashes made by {@link PostgresAuthProvider.addUser}. @default 10 */
  readonly cost?: number;
}

/** A user as {@link PostgresAuthProvider.addUser} takes it (the password in clear, hashed before it is stored). */
export interface PostgresUserInput {
  /** The plain password. */
  readonly password: string;
  /** Home folder relative to the storage root. Default: the whole root. */
  readonly home?: string;
  /** What the user may do. Default: read, write, delete. */
  readonly permissions?: Permission[];
  /** Storage quota in bytes. */
  readonly quotaBytes?: number;
  /** Largest file the user may upload, in bytes. */
  readonly maxFileSize?: number;
}

/** A row of {@link PostgresAuthProvider.listUsers} (never the hash). */
export interface PostgresUserEntry {
  /** The username. */
  readonly username: string;
  /** Home folder, if any. */
  readonly home?: string;
  /** Permissions. */
  readonly permissions: Permission[];
  /** Quota in bytes, if any. */
  readonly quotaBytes?: number;
  /** Largest upload in bytes, if any. */
  readonly maxFileSize?: number;
}

interface UserRow {
  username: string;
  password_hash: string;
  home: string | null;
  permissions: string[];
  quota_bytes: string | null;
  max_file_size: string | null;
}

/**
 * An {@link AuthProvider} whose users live in the table `fileshare_users` (created by
 * {@link migrate}), so that every node behind a load balancer sees the same users. An unknown
 * user costs the same bcrypt work as a wrong password. A database that cannot be reached makes
 * logins fail with `EIO` (never a login without a password check).
 *
 * @example
 * ```ts
 * import { PostgresAuthProvider } from 'fileshare/postgres';
 * const auth = new PostgresAuthProvider({ pool: process.env.DATABASE_URL! });
 * await auth.addUser('alice', { password: 's3cret', home: 'alice', quotaBytes: 10 * 2 ** 30 });
 * const server = new FileShareServer({ root: './data', auth });
 * ```
 */
export class PostgresAuthProvider implements AuthProvider {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #table: string;
  readonly #schema: string;
  readonly #cost: number | undefined;
  #ready: Promise<void> | undefined;
  #dummyHash: Promise<string> | undefined;

  /**
   * @param options - see {@link PostgresAuthProviderOptions}
   * @throws TypeError for a missing pool or a bad schema name
   */
  constructor(options: PostgresAuthProviderOptions) {
    if (typeof options !== 'object' || options === null || !options.pool)
      throw new TypeError('PostgresAuthProvider: options.pool is required');
    this.#ownsPool = typeof options.pool === 'string';
    this.#pool = typeof options.pool === 'string' ? new pg.Pool({ connectionString: options.pool, max: 10 }) : options.pool;
    if (this.#ownsPool) this.#pool.on('error', () => {}); // an idle client's lost connection: the next query reconnects
    this.#schema = options.schema ?? 'public';
    this.#table = `${quoteIdent(this.#schema)}.fileshare_users`;
    this.#cost = options.cost;
    if (options.migrate === false) this.#ready = Promise.resolve();
  }

  /** The pool in use. */
  get pool(): pg.Pool {
    return this.#pool;
  }

  /** Create the tables if needed (done before the first query unless `migrate: false`). */
  ready(): Promise<void> {
    this.#ready ??= migrate(this.#pool, { schema: this.#schema }).then(
      () => undefined,
      (err: unknown) => {
        this.#ready = undefined; // retry at the next call
        throw err;
      },
    );
    return this.#ready;
  }

  /** Check a password against the table. Resolves to the user or `null`; rejects only when the database fails. */
  async authenticate(username: string, password: string): Promise<AuthenticatedUser | null> {
    await this.ready();
    const row = isValidUsername(username)
      ? (await this.#pool.query<UserRow>(`SELECT * FROM ${this.#table} WHERE username = $1`, [username])).rows[0]
      : undefined;
    if (!row) {
      await verifyPassword(password, await this.#dummy()).catch(() => false);
      return null;
    }
    if (!(await verifyPassword(password, row.password_hash))) return null;
    return userOf(row);
  }

  /**
   * The user as the table has them now, and their password hash as the credential, for session
   * resumption: read on every resume, so a password or permission change made through any node
   * (or straight in the table) refuses the tokens issued before it on every node. `null` for an
   * unknown user. Rejects only when the database fails.
   */
  async lookup(username: string): Promise<ResumableUser | null> {
    await this.ready();
    if (!isValidUsername(username)) return null;
    const row = (await this.#pool.query<UserRow>(`SELECT * FROM ${this.#table} WHERE username = $1`, [username])).rows[0];
    return row ? { user: userOf(row), credential: row.password_hash } : null;
  }

  /**
   * Add a user, or replace one with `replace: true`.
   * @throws FileShareError `EINVAL` (bad username or field), `EEXIST` (exists, no replace)
   */
  async addUser(username: string, user: PostgresUserInput, options: { replace?: boolean } = {}): Promise<void> {
    await this.ready();
    const hash = await hashPassword(user.password, this.#cost === undefined ? {} : { cost: this.#cost });
    const { password: _password, ...rest } = user;
    const record = parseUserRecord(username, { ...rest, passwordHash: hash });
    const values = [
      username,
      record.passwordHash,
      record.home ?? null,
      record.permissions ?? [...DEFAULT_PERMISSIONS],
      record.quotaBytes ?? null,
      record.maxFileSize ?? null,
    ];
    const insert = `INSERT INTO ${this.#table} (username, password_hash, home, permissions, quota_bytes, max_file_size) VALUES ($1, $2, $3, $4, $5, $6)`;
    const upsert = `${insert} ON CONFLICT (username) DO UPDATE SET password_hash = $2, home = $3, permissions = $4, quota_bytes = $5, max_file_size = $6, updated_at = now()`;
    try {
      await this.#pool.query(options.replace ? upsert : insert, values);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new FileShareError('EEXIST', `user ${username} already exists`);
      throw err;
    }
  }

  /** Change a user's password. @throws FileShareError `ENOENT` for an unknown user */
  async setPassword(username: string, password: string): Promise<void> {
    await this.ready();
    const hash = await hashPassword(password, this.#cost === undefined ? {} : { cost: this.#cost });
    const { rowCount } = await this.#pool.query(`UPDATE ${this.#table} SET password_hash = $2, updated_at = now() WHERE username = $1`, [
      username,
      hash,
    ]);
    if (!rowCount) throw new FileShareError('ENOENT', `no user ${username}`);
  }

  /** Remove a user; resolves to whether it existed. Open sessions are not affected. */
  async removeUser(username: string): Promise<boolean> {
    await this.ready();
    const { rowCount } = await this.#pool.query(`DELETE FROM ${this.#table} WHERE username = $1`, [username]);
    return (rowCount ?? 0) > 0;
  }

  /** Every user, sorted by name, without their hashes. */
  async listUsers(): Promise<PostgresUserEntry[]> {
    await this.ready();
    const { rows } = await this.#pool.query<UserRow>(`SELECT * FROM ${this.#table} ORDER BY username`);
    return rows.map((row) => ({
      username: row.username,
      ...(row.home !== null && { home: row.home }),
      permissions: row.permissions.filter((p): p is Permission => ALL_PERMISSIONS.includes(p as Permission)),
      ...(row.quota_bytes !== null && { quotaBytes: Number(row.quota_bytes) }),
      ...(row.max_file_size !== null && { maxFileSize: Number(row.max_file_size) }),
    }));
  }

  /** End the pool if this provider made it (called by `server.close()`). */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end();
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomBytes(16).toString('hex'), this.#cost === undefined ? {} : { cost: this.#cost });
    return this.#dummyHash;
  }
}

function recordOf(row: UserRow): Record<string, unknown> {
  return {
    passwordHash: row.password_hash,
    ...(row.home !== null && { home: row.home }),
    permissions: row.permissions,
    ...(row.quota_bytes !== null && { quotaBytes: Number(row.quota_bytes) }),
    ...(row.max_file_size !== null && { maxFileSize: Number(row.max_file_size) }),
  };
}

/** A row as the user a login grants. */
function userOf(row: UserRow): AuthenticatedUser {
  return toAuthenticatedUser(row.username, parseUserRecord(row.username, recordOf(row)));
}
