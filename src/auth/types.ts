import type { Permission } from '../protocol/operations.ts';

export type { Permission };

/** Every permission, in a stable order. */
export const ALL_PERMISSIONS: readonly Permission[] = ['read', 'write', 'delete'];

/** The permissions a user gets when the auth provider does not say: all of them. */
export const DEFAULT_PERMISSIONS: readonly Permission[] = ['read', 'write', 'delete'];

/** A user that an {@link AuthProvider} accepted. */
export interface AuthenticatedUser {
  /** The user's name, as it will appear in logs and events. */
  readonly username: string;
  /**
   * The user's home folder, relative to the server's root (POSIX, e.g. `"alice"` or `"teams/red"`).
   * It becomes the user's `/`: nothing outside it is reachable. Default: the whole root.
   */
  readonly home?: string;
  /** What the user may do. Default: {@link DEFAULT_PERMISSIONS}. */
  readonly permissions?: readonly Permission[];
  /** Optional storage quota in bytes for the user's home; uploads that would exceed it fail with `EQUOTA`. */
  readonly quotaBytes?: number;
  /** Optional largest file the user may upload, in bytes (`ETOOLARGE`). */
  readonly maxFileSize?: number;
}

/** What {@link AuthProvider.lookup} answers. */
export interface ResumableUser {
  /** The user, exactly as `authenticate` would have resolved it now. */
  readonly user: AuthenticatedUser;
  /** Changes whenever the password changes (e.g. the password hash). */
  readonly credential: string;
}

/** Facts about the login attempt, passed to {@link AuthProvider.authenticate}. */
export interface AuthContext {
  /** The client's IP address as the server sees it. */
  readonly remoteAddress: string;
  /** The client's port. */
  readonly remotePort: number;
  /** Whether the connection is TLS. */
  readonly secure: boolean;
}

/**
 * Checks credentials. A custom provider (database, LDAP, ...) is one object with this method.
 * Resolve to the user on success and to `null` on bad credentials; throw only for real failures
 * (the server logs them and answers `EIO`). Implementations should take about as long for an unknown
 * user as for a wrong password, so that timing does not reveal which names exist.
 *
 * @example
 * ```ts
 * const provider: AuthProvider = {
 *   async authenticate(username, password) {
 *     const row = await db.findUser(username);
 *     return row && (await verifyPassword(password, row.hash)) ? { username } : null;
 *   },
 * };
 * ```
 */
export interface AuthProvider {
  /** Check `password` for `username`; resolve to the user or `null`. */
  authenticate(username: string, password: string, context: AuthContext): Promise<AuthenticatedUser | null>;
  /**
   * Optional, for session resumption: the user as they are now, without checking a password, and
   * a `credential` string that changes whenever their password does (the password hash will do;
   * it is only ever hashed into tokens, never sent). `null` for a user that no longer exists.
   * Without this method the server issues no resumption tokens.
   */
  lookup?(username: string): Promise<ResumableUser | null>;
  /** Optional: release resources (file watchers). Called by `server.close()`. */
  close?(): void | Promise<void>;
}
