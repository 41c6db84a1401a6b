/** The in-memory auth provider: users given in code, passwords checked with bcrypt. */
import { hashPassword, typicalCost, verifyAgainstNothing, verifyPassword, type HashPasswordOptions } from './password.ts';
import type { AuthContext, AuthenticatedUser, AuthProvider, ResumableUser } from './types.ts';
import { checkUsername, isValidUsername, parseUserRecord, toAuthenticatedUser, type UserRecord } from './user-record.ts';

/** Options of {@link MemoryAuthProvider}. */
export interface MemoryAuthProviderOptions {
  /** The users, by username. Each record is validated with `parseUserRecord`. */
  users: Record<string, UserRecord>;
}

/**
 * A user for {@link MemoryAuthProvider.fromPasswords}: the plain password alone (default home
 * and permissions), or a record with `password` in place of `passwordHash`.
 */
export type PlainUserEntry =
  | string
  | ({
      /** The plain password; it is hashed with bcrypt and not kept. */
      password: string;
    } & Omit<UserRecord, 'passwordHash'>);

/**
 * An {@link AuthProvider} holding its users in memory, with bcrypt password hashes.
 * An unknown or malformed username costs the same bcrypt work as a wrong password.
 *
 * @example
 * ```ts
 * const auth = new MemoryAuthProvider({
 *   users: { alice: { passwordHash: await hashPassword('s3cret'), home: 'alice', permissions: ['read'] } },
 * });
 * // or, for tests and demos:
 * const demo = await MemoryAuthProvider.fromPasswords({ alice: 's3cret', bob: { password: 'pw', home: 'bob' } });
 * ```
 */
export class MemoryAuthProvider implements AuthProvider {
  readonly #users = new Map<string, UserRecord>();
  #dummyCost: number | undefined;

  /**
   * @param options - {@link MemoryAuthProviderOptions}
   * @throws TypeError if `options.users` is not an object
   * @throws FileShareError `EINVAL` for an invalid username or record
   */
  constructor(options: MemoryAuthProviderOptions) {
    const users = (options as Partial<MemoryAuthProviderOptions> | undefined)?.users;
    if (typeof users !== 'object' || users === null || Array.isArray(users)) {
      throw new TypeError(`Invalid option "users": ${String(users)} (expected an object of username to record)`);
    }
    for (const [name, record] of Object.entries(users)) this.#users.set(name, parseUserRecord(name, record));
  }

  /**
   * Build a provider from plain passwords, hashing each one (sequentially, so allow ~50-100 ms
   * per user at the default cost). Meant for tests, demos and small embedded setups.
   *
   * @param passwords - username to password, or to a record with `password` instead of `passwordHash`
   * @param options - bcrypt cost for the hashes
   * @throws FileShareError `EINVAL` for an invalid username, password or record
   * @throws TypeError for an invalid `cost`
   */
  static async fromPasswords(passwords: Record<string, PlainUserEntry>, options: HashPasswordOptions = {}): Promise<MemoryAuthProvider> {
    const users: Array<[string, UserRecord]> = [];
    for (const [name, entry] of Object.entries(passwords)) {
      checkUsername(name);
      const { password, ...rest } = typeof entry === 'string' ? { password: entry } : entry;
      users.push([name, { ...rest, passwordHash: await hashPassword(password, options) }]);
    }
    return new MemoryAuthProvider({ users: Object.fromEntries(users) });
  }

  /**
   * Add or replace a user. Takes effect for the next login; open sessions keep what they had.
   * @throws FileShareError `EINVAL` for an invalid username or record
   */
  setUser(name: string, record: UserRecord): void {
    this.#users.set(name, parseUserRecord(name, record));
    this.#dummyCost = undefined;
  }

  /** Remove a user; returns whether it existed. Open sessions are not affected. */
  removeUser(name: string): boolean {
    this.#dummyCost = undefined;
    return this.#users.delete(name);
  }

  /** Whether a user of that name exists. */
  hasUser(name: string): boolean {
    return this.#users.has(name);
  }

  /**
   * Check the password. Resolves to the user (`username`, `permissions`, and `home`,
   * `quotaBytes`, `maxFileSize` when set) or `null`. Never rejects for bad input: an invalid
   * or unknown username goes through the same bcrypt work as a wrong password, then `null`.
   */
  async authenticate(username: string, password: string, _context?: AuthContext): Promise<AuthenticatedUser | null> {
    const record = isValidUsername(username) ? this.#users.get(username) : undefined;
    if (record === undefined) {
      await verifyAgainstNothing(password, this.#typicalCost());
      return null;
    }
    const ok = await verifyPassword(password, record.passwordHash);
    return ok ? toAuthenticatedUser(username, record) : null;
  }

  /** The user as stored now and their password hash, for session resumption; `null` if unknown. */
  async lookup(username: string): Promise<ResumableUser | null> {
    const record = isValidUsername(username) ? this.#users.get(username) : undefined;
    return record === undefined ? null : { user: toAuthenticatedUser(username, record), credential: record.passwordHash };
  }

  /** The bcrypt cost an unknown user is charged: that of most stored hashes. */
  #typicalCost(): number {
    this.#dummyCost ??= typicalCost([...this.#users.values()].map((r) => r.passwordHash));
    return this.#dummyCost;
  }
}
