/**
 * Users for test servers, with their password hashes made at bcrypt cost 4, the lowest bcrypt
 * defines. `hashPassword()` refuses a cost below 10 for new hashes, but every provider verifies any
 * bcrypt hash, so the logins of a test server run the real check (on the worker pool, through the
 * provider, equally for unknown users: their dummy hash takes the cost of the stored ones) with
 * 1/64 of the work. Logins are most of what the suite's servers compute: at cost 10 each one was
 * 50-100 ms of CPU.
 *
 * Tests about bcrypt itself, or about load that comes from its cost (login storms against
 * `maxPendingLogins`), hash with `hashPassword()` or `MemoryAuthProvider.fromPasswords()` instead.
 */
import bcrypt from 'bcryptjs';
import { MemoryAuthProvider, type PlainUserEntry } from '../src/auth/memory-provider.ts';

/** The bcrypt cost of the fixtures' hashes. */
export const FIXTURE_COST = 4;

const hashes = new Map<string, string>();

/** A bcrypt hash of `password` at {@link FIXTURE_COST}, made once per password and process. */
export function fixtureHash(password: string): string {
  let hash = hashes.get(password);
  if (hash === undefined) {
    hash = bcrypt.hashSync(password, FIXTURE_COST);
    hashes.set(password, hash);
  }
  return hash;
}

/** A MemoryAuthProvider over `users` (as for `MemoryAuthProvider.fromPasswords`), hashed by {@link fixtureHash}. */
export function fixtureAuth(users: Record<string, PlainUserEntry>): MemoryAuthProvider {
  const records = Object.entries(users).map(([name, entry]) => {
    const { password, ...rest } = typeof entry === 'string' ? { password: entry } : entry;
    return [name, { ...rest, passwordHash: fixtureHash(password) }] as const;
  });
  return new MemoryAuthProvider({ users: Object.fromEntries(records) });
}
