/**
 * `fileshare/postgres`: users and the state shared by several server nodes, in PostgreSQL.
 * Needs the optional peer dependency `pg` (`npm install pg`). The tables are created by
 * {@link migrate} (run automatically on first use); see docs/scaling.md for the schema.
 * @packageDocumentation
 */
export { PostgresAuthProvider, type PostgresAuthProviderOptions, type PostgresUserEntry, type PostgresUserInput } from './auth-provider.ts';
export { PostgresSharedState, type PostgresSharedStateOptions } from './shared-state.ts';
export { migrate, SCHEMA_VERSION } from './migration.ts';
