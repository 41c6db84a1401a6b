import { type AuthenticatedUser, type AuthProvider, DEFAULT_PERMISSIONS, type Permission } from '../auth/types.ts';
import { FileShareError, isFileShareError } from '../errors.ts';
import type { Storage } from '../storage/types.ts';
import type { ConnectionInfo } from './events.ts';
import { LoginGuard, type LoginThrottleOptions } from './login-guard.ts';
import { type IssuedToken, ResumeTokens, type ResumptionOptions } from './resume-tokens.ts';
import type { ServerEventSink } from './request-context.ts';
import type { SharedLoginThrottle } from './shared-state.ts';

/** What a successful login grants a session. @internal */
export interface LoginGrant {
  readonly user: AuthenticatedUser;
  /** The user's permissions, the defaults filled in when the provider granted none. */
  readonly permissions: readonly Permission[];
  /** The storage scoped to the user's home. */
  readonly storage: Storage;
  /** A session-resumption token, when resumption is on and the provider supports it. */
  readonly resume?: IssuedToken;
}

/**
 * Where the auth provider and the brute-force throttle meet: every login attempt of the server
 * passes here, and `login` / `loginFailed` are announced here and nowhere else.
 * @internal
 */
export class Authenticator {
  private readonly guard: LoginGuard;
  /** Login attempts in progress (for `maxPendingLogins`). */
  private pending = 0;

  constructor(
    private readonly provider: AuthProvider,
    throttle: LoginThrottleOptions | false | undefined,
    private readonly emit: ServerEventSink,
    /** Failures counted by the other nodes of a cluster, when the server was given shared state. */
    shared?: SharedLoginThrottle,
    private readonly maxPending: number = 128,
    resumption: ResumptionOptions | false = {},
  ) {
    this.guard = new LoginGuard(throttle);
    this.shared = this.guard.effectiveSettings ? shared : undefined;
    this.tokens = resumption !== false && typeof provider.lookup === 'function' ? new ResumeTokens(resumption) : undefined;
  }

  private readonly tokens: ResumeTokens | undefined;

  /**
   * Log in with a resumption token instead of a password: no bcrypt, the user as the provider
   * has them now. Failures count in the (local) throttle like wrong passwords.
   * @param binding - the connection's binding: `tcp`, or `tls:` and the server certificate's fingerprint
   * @throws EAUTH (token invalid, expired, for another binding, or the user changed), ETHROTTLED, EBUSY, EIO
   */
  async resume(token: string, connection: ConnectionInfo, binding: string, root: Storage): Promise<LoginGrant> {
    const tokens = this.tokens;
    const lookup = this.provider.lookup?.bind(this.provider);
    if (tokens === undefined || lookup === undefined) {
      this.emit('loginFailed', { connection, username: '', code: 'EAUTH' });
      throw new FileShareError('EAUTH', 'session resumption is off on this server');
    }
    let claimed: string;
    try {
      claimed = tokens.open(token, binding).username;
    } catch (err) {
      this.guard.recordFailure(connection.remoteAddress, '');
      this.emit('loginFailed', { connection, username: '', code: 'EAUTH' });
      throw err;
    }
    return this.admitted(
      connection,
      claimed,
      async () => {
        const fail = (code: 'EAUTH' | 'ETHROTTLED' | 'EIO', message: string, cause?: unknown): never => {
          if (code === 'EAUTH') this.guard.recordFailure(connection.remoteAddress, claimed);
          this.emit('loginFailed', { connection, username: claimed, code });
          throw new FileShareError(code, message, cause === undefined ? undefined : { cause });
        };
        const wait = this.guard.check(connection.remoteAddress, claimed);
        if (wait > 0) fail('ETHROTTLED', `too many failed logins; try again in ${Math.ceil(wait / 1000)} s`);
        const claims = tokens.open(token, binding);
        let now;
        try {
          now = await lookup(claimed);
        } catch (err) {
          return fail('EIO', `auth provider failed: ${(err as Error)?.message ?? err}`, err);
        }
        if (now === null || tokens.stamp(now.user, now.credential) !== claims.stamp) {
          return fail('EAUTH', 'resumption token refused: the user or their password or permissions changed');
        }
        this.guard.recordSuccess(connection.remoteAddress, claimed);
        // the same expiry: resuming never extends a session beyond its password login
        return { user: now.user, resume: tokens.issue(now.user, now.credential, binding, claims.expiresAt) };
      },
      root,
    );
  }

  private readonly shared: SharedLoginThrottle | undefined;

  /**
   * Check credentials (throttled), then scope `root` to the user's home.
   * @throws EAUTH, ETHROTTLED, EBUSY (too many logins in progress), EIO (the provider failed)
   */
  async login(username: string, password: string, connection: ConnectionInfo, root: Storage, binding = 'tcp'): Promise<LoginGrant> {
    return this.admitted(
      connection,
      username,
      async () => {
        const user = await this.check(username, password, connection);
        return { user, ...(await this.issue(user, binding)) };
      },
      root,
    );
  }

  /** A token for a user who just proved their password, when resumption is on. */
  private async issue(user: AuthenticatedUser, binding: string): Promise<{ resume?: IssuedToken }> {
    if (this.tokens === undefined || this.provider.lookup === undefined) return {};
    try {
      const now = await this.provider.lookup(user.username);
      return now === null ? {} : { resume: this.tokens.issue(user, now.credential, binding) };
    } catch {
      return {}; // no token is no failure: the client logs in with its password next time
    }
  }

  /**
   * Run one attempt within the cap of pending logins and the throttle's concurrency, then scope
   * the storage and announce the login.
   */
  private async admitted(
    connection: ConnectionInfo,
    username: string,
    attempt: () => Promise<{ user: AuthenticatedUser; resume?: IssuedToken }>,
    root: Storage,
  ): Promise<LoginGrant> {
    if (this.pending >= this.maxPending) {
      this.emit('loginFailed', { connection, username, code: 'EBUSY' });
      throw new FileShareError('EBUSY', `too many logins in progress (${this.maxPending}); try again later`);
    }
    let outcome: { user: AuthenticatedUser; resume?: IssuedToken };
    this.pending++;
    try {
      // per address and per username, no more attempts at once than free attempts are left
      outcome = await this.guard.serialize(connection.remoteAddress, username, attempt);
    } finally {
      this.pending--;
    }
    const { user } = outcome;
    const storage = user.home ? await root.scope(user.home) : root;
    const permissions = Object.freeze([...(user.permissions ?? DEFAULT_PERMISSIONS)]);
    this.emit('login', { connection, username: user.username, permissions });
    return { user, permissions, storage, ...(outcome.resume ? { resume: outcome.resume } : {}) };
  }

  /** Release the provider (file watchers) and forget throttling state. */
  async close(): Promise<void> {
    this.guard.close();
    await this.provider.close?.();
  }

  private async check(username: string, password: string, connection: ConnectionInfo): Promise<AuthenticatedUser> {
    const fail = (code: 'EAUTH' | 'ETHROTTLED' | 'EBUSY' | 'EIO', message: string, cause?: unknown): never => {
      this.emit('loginFailed', { connection, username, code });
      throw new FileShareError(code, message, cause === undefined ? undefined : { cause });
    };
    const shared = this.shared;
    const keys = [`a:${connection.remoteAddress}`, `u:${username}`];
    let wait = this.guard.check(connection.remoteAddress, username);
    if (shared) {
      try {
        // the other nodes' failures count too; a store that cannot answer refuses the login (closed)
        wait = Math.max(wait, await shared.loginDelay(keys));
      } catch (err) {
        return fail('EIO', `shared login throttle failed: ${(err as Error)?.message ?? err}`, err);
      }
    }
    if (wait > 0) fail('ETHROTTLED', `too many failed logins; try again in ${Math.ceil(wait / 1000)} s`);
    let user: AuthenticatedUser | null;
    try {
      user = await this.provider.authenticate(username, password, {
        remoteAddress: connection.remoteAddress,
        remotePort: connection.remotePort,
        secure: connection.secure,
      });
    } catch (err) {
      // Overload (the bcrypt threads' queue is full) is neither a failed login nor a provider fault.
      if (isFileShareError(err, 'EBUSY')) return fail('EBUSY', err.message);
      // Not emitted as 'error' here: the session reports every EIO once (with this message and
      // cause) and sends the client only a generic message.
      return fail('EIO', `auth provider failed: ${(err as Error)?.message ?? err}`, err);
    }
    if (!user) {
      this.guard.recordFailure(connection.remoteAddress, username);
      try {
        await shared?.recordLoginFailure(keys, this.guard.effectiveSettings!);
      } catch (err) {
        this.emit(
          'error',
          new Error(`recording a failed login in the shared state failed: ${(err as Error)?.message ?? err}`, { cause: err }),
        );
      }
      return fail('EAUTH', 'invalid username or password');
    }
    this.guard.recordSuccess(connection.remoteAddress, username);
    try {
      await shared?.clearLoginFailures(keys);
    } catch (err) {
      // the password was right: let the user in; their old failures expire on their own
      this.emit('error', new Error(`clearing failed logins in the shared state failed: ${(err as Error)?.message ?? err}`, { cause: err }));
    }
    return user;
  }
}
