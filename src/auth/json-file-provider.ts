/**
 * The users-file auth provider: users in a JSON file, reloaded when the file changes, so a running
 * server picks up `user add` without a restart.
 */
import { aliased, optionError } from '../options.ts';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { FileShareError, toFileShareError } from '../errors.ts';
import { MemoryAuthProvider } from './memory-provider.ts';
import type { AuthContext, AuthenticatedUser, AuthProvider, ResumableUser } from './types.ts';
import { readUsersFile } from './users-file.ts';

/** Options of {@link JsonFileAuthProvider}. */
export interface JsonFileAuthProviderOptions {
  /**
   * How often to look for changes to the file, in milliseconds: the poll interval of the file
   * watcher, and the age after which a login re-checks the file itself. `0` disables reloading:
   * the file is read once.
   * @default 1000
   */
  reloadInterval?: number;
  /** @deprecated The old name of `reloadInterval`. */
  reloadIntervalMs?: number;
  /**
   * Called when loading or reloading fails (missing file, invalid JSON, invalid record); the
   * previous users stay in effect. Each failure is reported once per version of the file, so a
   * missing file is reported once, not on every poll. An exception thrown here is ignored.
   * @default `process.emitWarning`
   */
  onError?: (err: Error) => void;
}

/** Identifies one version of the file; a rename-over changes the inode, an edit the size or times. */
function signatureOf(st: Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

const MISSING = 'missing';

/**
 * An {@link AuthProvider} reading its users from a users file (format in `users-file.ts`:
 * `{ "users": { "alice": { "passwordHash": "$2b$...", "home": "alice" } } }`).
 *
 * The file is read on the first `authenticate()` (or `await provider.load()`), then reloaded when it
 * changes: `fs.watchFile` polls its inode, size and times (this survives editors and tools that
 * replace the file by rename, which `fs.watch` does not), and a login re-checks the file itself
 * when the last check is older than `reloadInterval`. A reload that fails keeps the previous
 * users and goes to `onError`; nothing is thrown from the watcher. The watcher never keeps the
 * process alive, and `close()` stops it.
 *
 * @example
 * ```ts
 * const auth = new JsonFileAuthProvider('./users.json', { onError: (err) => log.warn(err) });
 * await auth.load(); // optional: fail fast at startup
 * // later, from another process: await addUser('./users.json', 'bob', 'pw'); bob can log in within a second.
 * ```
 */
export class JsonFileAuthProvider implements AuthProvider {
  /** The users file. */
  readonly path: string;
  readonly #intervalMs: number;
  readonly #onError: (err: Error) => void;
  #users = new MemoryAuthProvider({ users: {} });
  /** Signature of the version last read (or found missing), successfully or not. */
  #seen: string | undefined;
  #lastCheck = 0;
  #started = false;
  #closed = false;
  /** The chain of checks: one at a time, in order. Never rejects. */
  #pending: Promise<void> = Promise.resolve();
  readonly #listener = (curr: Stats, prev: Stats): void => {
    if (!this.#closed && signatureOf(curr) !== signatureOf(prev)) void this.#check(false, false);
  };

  /**
   * @param path - the users file
   * @param options - {@link JsonFileAuthProviderOptions}
   * @throws TypeError for an empty path or an invalid option
   */
  constructor(path: string, options: JsonFileAuthProviderOptions = {}) {
    if (typeof path !== 'string' || path === '') throw new TypeError(`Invalid users file path: ${JSON.stringify(path)}`);
    const { onError = (err: Error) => process.emitWarning(err) } = options;
    const reloadIntervalMs = aliased(options, 'reloadInterval', 'reloadIntervalMs') ?? 1000;
    if (typeof reloadIntervalMs !== 'number' || !Number.isFinite(reloadIntervalMs) || reloadIntervalMs < 0) {
      throw optionError(`options.reloadInterval must be a number >= 0, got ${JSON.stringify(reloadIntervalMs)}`);
    }
    if (typeof onError !== 'function') throw new TypeError(`Invalid option "onError": ${String(onError)} (expected a function)`);
    this.path = path;
    this.#intervalMs = reloadIntervalMs;
    this.#onError = onError;
  }

  /**
   * Read the file now (and start watching it, unless reloading is disabled or the provider is
   * closed). Use it at startup to fail fast on a missing or invalid file.
   * @throws FileShareError `ENOENT` if the file is missing, `EINVAL` if it is invalid; the
   *   previous users (if any) stay in effect, and `onError` is not called for this failure
   */
  async load(): Promise<void> {
    this.#start();
    await this.#check(true, true);
  }

  /**
   * Check the password against the users in the file (loading it first if needed, and
   * re-checking it if the last check is older than `reloadInterval`). Resolves to the user or
   * `null`; an unknown user, or any user while the file is missing, costs the same bcrypt work
   * as a wrong password.
   */
  async authenticate(username: string, password: string, context?: AuthContext): Promise<AuthenticatedUser | null> {
    if (!this.#started && !this.#closed) {
      this.#start();
      await this.#check(true, false);
    } else if (!this.#closed && this.#intervalMs > 0 && Date.now() - this.#lastCheck >= this.#intervalMs) {
      await this.#check(false, false);
    } else {
      await this.#pending;
    }
    return this.#users.authenticate(username, password, context);
  }

  /**
   * The user as the file says now (reloaded as for a login) and their password hash, for session
   * resumption; `null` if unknown.
   */
  async lookup(username: string): Promise<ResumableUser | null> {
    if (!this.#started && !this.#closed) {
      this.#start();
      await this.#check(true, false);
    } else if (!this.#closed && this.#intervalMs > 0 && Date.now() - this.#lastCheck >= this.#intervalMs) {
      await this.#check(false, false);
    } else {
      await this.#pending;
    }
    return this.#users.lookup(username);
  }

  /** Stop watching the file. Logins keep working with the users last loaded, without reloads. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#started && this.#intervalMs > 0) unwatchFile(this.path, this.#listener);
  }

  #start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (this.#intervalMs > 0) watchFile(this.path, { interval: this.#intervalMs, persistent: false }, this.#listener);
  }

  /**
   * Queue a check of the file: stat it, and read it if it changed (or always, with `force`).
   * Failures are thrown (`rethrow`) or reported through `onError`.
   */
  #check(force: boolean, rethrow: boolean): Promise<void> {
    this.#lastCheck = Date.now();
    const run = this.#pending.then(() => this.#reload(force));
    this.#pending = run.catch(() => undefined);
    return rethrow ? run : run.catch((err: unknown) => this.#report(err));
  }

  async #reload(force: boolean): Promise<void> {
    let signature: string;
    try {
      signature = signatureOf(await stat(this.path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') signature = MISSING;
      else {
        // Report a stat failure (EACCES...) once, like a bad version of the file.
        const failure = `error:${String(code)}`;
        if (!force && failure === this.#seen) return;
        this.#seen = failure;
        throw toFileShareError(err);
      }
    }
    if (!force && signature === this.#seen) return;
    this.#seen = signature;
    if (signature === MISSING) throw new FileShareError('ENOENT', `users file not found: ${this.path}`);
    const users = await readUsersFile(this.path);
    this.#users = new MemoryAuthProvider({ users });
  }

  #report(err: unknown): void {
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // A throwing onError must not break logins or the watcher.
    }
  }
}
