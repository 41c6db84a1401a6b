/**
 * The database schema of `fileshare/postgres`, created by {@link migrate}: idempotent, versioned,
 * run under an advisory lock so that several nodes starting at once apply it once.
 * @module
 */
import type { Pool, PoolClient } from 'pg';

/** The schema version this release creates. */
export const SCHEMA_VERSION = 2;

/**
 * The SQL of each version, in order (documented in docs/scaling.md). Version 1: users, and the
 * login-failure records shared by every node. Version 2: quota accounts and their holders, and
 * resume locks.
 * @internal
 */
export function migrationSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `CREATE TABLE IF NOT EXISTS ${s}.fileshare_users (
      username      text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}$'),
      password_hash text NOT NULL,
      home          text,
      permissions   text[] NOT NULL DEFAULT ARRAY['read','write','delete'],
      quota_bytes   bigint CHECK (quota_bytes >= 0),
      max_file_size bigint CHECK (max_file_size >= 0),
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE IF NOT EXISTS ${s}.fileshare_login_failures (
      key           text PRIMARY KEY,
      failures      integer NOT NULL,
      blocked_until timestamptz NOT NULL,
      last_failure  timestamptz NOT NULL
    );`,
    `CREATE TABLE IF NOT EXISTS ${s}.fileshare_quota_accounts (
      account    text PRIMARY KEY,
      free       bigint,
      epoch      bigint NOT NULL DEFAULT 0,
      next_order bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS ${s}.fileshare_quota_holders (
      id         uuid PRIMARY KEY,
      account    text NOT NULL REFERENCES ${s}.fileshare_quota_accounts ON DELETE CASCADE,
      ord        bigint NOT NULL,
      reserved   bigint NOT NULL DEFAULT 0,
      want_min   bigint,
      want_max   bigint,
      verdict    text CHECK (verdict IN ('granted', 'refused')),
      credit     text,
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX IF NOT EXISTS fileshare_quota_holders_account ON ${s}.fileshare_quota_holders (account);
    CREATE TABLE IF NOT EXISTS ${s}.fileshare_resume_locks (
      key        text PRIMARY KEY,
      holder     uuid NOT NULL,
      expires_at timestamptz NOT NULL
    );`,
  ];
}

/** Quote an SQL identifier (a schema name from the options). @internal */
export function quoteIdent(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 63 || name.includes('\0')) {
    throw new TypeError(`invalid PostgreSQL schema name ${JSON.stringify(name)}`);
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** Any 64-bit number, the same for every node: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 7_120_312_001;

/**
 * Create or upgrade the fileshare tables in `schema` (default `public`). Safe to run on every
 * start, from several nodes at once. Resolves to the schema version now in place.
 */
export async function migrate(pool: Pool, options: { schema?: string } = {}): Promise<number> {
  const schema = options.schema ?? 'public';
  const s = quoteIdent(schema);
  const client: PoolClient = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.fileshare_schema (version integer NOT NULL)`);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.fileshare_schema`);
    let version = rows[0]?.version ?? 0;
    if (version > SCHEMA_VERSION)
      throw new Error(`the database schema is version ${version}, newer than this fileshare (${SCHEMA_VERSION})`);
    const steps = migrationSql(schema);
    for (; version < steps.length; version++) await client.query(steps[version]!);
    if (rows.length === 0) await client.query(`INSERT INTO ${s}.fileshare_schema (version) VALUES ($1)`, [version]);
    else await client.query(`UPDATE ${s}.fileshare_schema SET version = $1`, [version]);
    await client.query('COMMIT');
    return version;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
