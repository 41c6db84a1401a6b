/**
 * Password hashing with bcrypt (the pure-JS `bcryptjs`, so no native build).
 *
 * Every bcrypt computation runs in the process's pool of worker threads (bcrypt-pool.ts): a
 * cost-10 check is 50-100 ms of CPU, which on the event loop would stall every connection of the
 * server, and the pool also spreads a burst of logins over the machine's cores.
 */
import { randomBytes } from 'node:crypto';
import { FileShareError } from '../errors.ts';
import { bcryptPool } from './bcrypt-pool.ts';

/** The bcrypt cost (log2 of the rounds) used when none is given, and the smallest accepted. */
export const DEFAULT_BCRYPT_COST = 10;

/** The largest bcrypt cost. */
export const MAX_BCRYPT_COST = 31;

/** bcrypt only looks at the first 72 bytes of a password. */
const MAX_PASSWORD_BYTES = 72;

/** Options of {@link hashPassword}. */
export interface HashPasswordOptions {
  /**
   * bcrypt cost: the hash takes 2^cost rounds. Each step up doubles the time.
   * Integer from 10 to 31.
   * @default 10
   */
  cost?: number;
}

/**
 * Shape of a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost, 22 characters of salt and
 * 31 of hash in bcrypt's base64 alphabet.
 * @internal
 */
export const BCRYPT_HASH_PATTERN = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/**
 * The cost encoded in a bcrypt hash, or `undefined` if `hash` is not one.
 * @internal
 */
export function bcryptCost(hash: string): number | undefined {
  return BCRYPT_HASH_PATTERN.test(hash) ? Number(hash.slice(4, 6)) : undefined;
}

/**
 * Throw `EINVAL` unless `plain` is a non-empty string of at most 72 bytes in UTF-8
 * (bcrypt would silently ignore the rest).
 * @internal
 */
export function checkPassword(plain: unknown): asserts plain is string {
  if (typeof plain !== 'string') throw new FileShareError('EINVAL', `password must be a string, got ${typeof plain}`);
  if (plain.length === 0) throw new FileShareError('EINVAL', 'password must not be empty');
  const bytes = Buffer.byteLength(plain, 'utf8');
  if (bytes > MAX_PASSWORD_BYTES) {
    throw new FileShareError('EINVAL', `password is ${bytes} bytes in UTF-8; bcrypt uses at most ${MAX_PASSWORD_BYTES}`);
  }
}

/**
 * Validate a bcrypt cost option.
 * @internal
 */
export function checkCost(cost: unknown): number {
  if (cost === undefined) return DEFAULT_BCRYPT_COST;
  if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < DEFAULT_BCRYPT_COST || cost > MAX_BCRYPT_COST) {
    throw new TypeError(`Invalid option "cost": ${String(cost)} (expected an integer from ${DEFAULT_BCRYPT_COST} to ${MAX_BCRYPT_COST})`);
  }
  return cost;
}

/**
 * Hash a password with bcrypt, for a users file or a `MemoryAuthProvider`.
 *
 * @param plain - the password: 1 to 72 bytes in UTF-8
 * @param options - {@link HashPasswordOptions}
 * @returns a 60-character bcrypt hash such as `$2b$10$...`
 * @throws FileShareError `EINVAL` for an empty password or one over 72 bytes (bcrypt would truncate it)
 * @throws TypeError for a `cost` that is not an integer from 10 to 31
 *
 * @example
 * ```ts
 * const hash = await hashPassword('correct horse battery staple');
 * await verifyPassword('correct horse battery staple', hash); // true
 * ```
 */
export async function hashPassword(plain: string, options: HashPasswordOptions = {}): Promise<string> {
  const cost = checkCost(options.cost);
  checkPassword(plain);
  return bcryptPool().hash(plain, cost);
}

/**
 * Check a password against a bcrypt hash, on one of the process's bcrypt worker threads. A
 * malformed hash, or a password that {@link hashPassword} would refuse, gives `false`.
 *
 * @param plain - the password to check
 * @param hash - a bcrypt hash from {@link hashPassword} (or any `$2a$`/`$2b$`/`$2y$` hash)
 * @returns whether the password matches
 * @throws FileShareError `EBUSY` when too many checks are already waiting for a thread (overload,
 *   not a wrong password: retry later)
 */
export async function verifyPassword(plain: string, hash: string): Promise<boolean> {
  if (typeof hash !== 'string' || !BCRYPT_HASH_PATTERN.test(hash)) return false;
  // A password that is not a string, empty, or over 72 bytes (which could only "match" through
  // bcrypt's truncation: hashPassword never hashed one) is refused, but only after the same
  // bcrypt work, so that the time taken does not tell it apart.
  const acceptable = typeof plain === 'string' && plain.length > 0 && Buffer.byteLength(plain, 'utf8') <= MAX_PASSWORD_BYTES;
  const candidate = typeof plain === 'string' ? plain : '';
  try {
    const match = await bcryptPool().compare(candidate, hash);
    return match && acceptable;
  } catch (error) {
    // Overload is not a wrong password: it must not count against the user in the login throttle.
    if (error instanceof FileShareError && (error.code === 'EBUSY' || error.code === 'ECLOSED')) throw error;
    return false;
  }
}

/** A secret nobody can guess: the dummy hashes are never meant to match. */
const DUMMY_SECRET = `fileshare-dummy-${randomBytes(16).toString('hex')}`;

const dummyHashes = new Map<number, Promise<string>>();

/**
 * Spend the same bcrypt work as {@link verifyPassword} against a hash of the given cost, and
 * resolve to `false`. Providers call it for an unknown (or malformed) username so that timing
 * does not reveal which usernames exist.
 *
 * The dummy hash is computed lazily, once per cost, and the promise is cached. The caller that
 * computes it spends that hash as its bcrypt work (hashing and comparing cost the same), so even
 * the first unknown user takes no longer than a wrong password.
 *
 * @param plain - the password that was offered (used for the comparison, never stored)
 * @param cost - the cost of the hashes this unknown user is being compared with
 * @internal
 */
export async function verifyAgainstNothing(plain: string, cost: number = DEFAULT_BCRYPT_COST): Promise<false> {
  let dummy = dummyHashes.get(cost);
  if (dummy === undefined) {
    dummy = bcryptPool().hash(DUMMY_SECRET, cost);
    dummyHashes.set(cost, dummy);
    try {
      await dummy;
    } catch {
      dummyHashes.delete(cost);
    }
    return false;
  }
  const hash = await dummy.catch(() => undefined);
  if (hash !== undefined) await verifyPassword(plain, hash);
  return false;
}

/**
 * The cost to use for {@link verifyAgainstNothing}: the most common cost among `hashes`
 * (the higher one on a tie), or {@link DEFAULT_BCRYPT_COST} when there are none.
 * @internal
 */
export function typicalCost(hashes: Iterable<string>): number {
  const counts = new Map<number, number>();
  for (const hash of hashes) {
    const cost = bcryptCost(hash);
    if (cost !== undefined) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = DEFAULT_BCRYPT_COST;
  let bestCount = 0;
  for (const [cost, count] of counts) {
    if (count > bestCount || (count === bestCount && cost > best)) [best, bestCount] = [cost, count];
  }
  return best;
}
