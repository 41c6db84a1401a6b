/**
 * Session-resumption tokens: a reconnecting client proves it logged in a moment ago instead of
 * paying for bcrypt again.
 *
 * A token is `base64url(payload) "." base64url(HMAC-SHA-256(key, payload))`, where the payload
 * holds the username, the expiry, a hash of the connection binding (plain TCP, or TLS with the
 * server certificate's SHA-256 fingerprint) and a stamp: an HMAC of the user's credential (their
 * password hash) and of everything the login granted (home, permissions, limits). Nothing is
 * stored on the server; a token is valid while
 * - its MAC checks out under this server's key (a token of another key is refused),
 * - it has not expired (its lifetime runs from the password login: resuming never extends it),
 * - it arrives over the same kind of connection, for TLS with the same server certificate,
 * - the user still exists and their stamp is unchanged: a new password, or changed permissions,
 *   home or limits, invalidate every token issued before.
 * @internal
 */
import { aliased, optionError, positiveInteger } from '../options.ts';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthenticatedUser } from '../auth/types.ts';
import { FileShareError } from '../errors.ts';

/** Session-resumption settings of a server. */
export interface ResumptionOptions {
  /**
   * The secret that signs tokens: at least 32 bytes (a string counts its UTF-8 bytes). Keep it
   * across restarts (and share it between nodes) for tokens to survive them. Default: random per
   * server instance, so tokens die with the process.
   */
  key?: string | Uint8Array;
  /** How long a token stays valid after the password login, ms. @default 900000 (15 minutes) */
  ttl?: number;
  /** @deprecated The old name of `ttl`. */
  ttlMs?: number;
}

/** A token and when it expires. @internal */
export interface IssuedToken {
  readonly token: string;
  /** Expiry, ms since the epoch. */
  readonly expiresAt: number;
}

/** What a valid token says. @internal */
export interface TokenClaims {
  readonly username: string;
  readonly expiresAt: number;
}

/** Most characters of a token we look at (a real one is about 200). */
export const MAX_TOKEN_LENGTH = 1024;

const b64 = (buf: Buffer): string => buf.toString('base64url');

/** @internal */
export class ResumeTokens {
  readonly ttlMs: number;
  private readonly macKey: Buffer;
  private readonly stampKey: Buffer;

  constructor(options: ResumptionOptions = {}) {
    const raw = options.key === undefined ? randomBytes(32) : Buffer.from(options.key as string | Uint8Array);
    if (raw.length < 32) throw optionError(`options.resumption.key must be at least 32 bytes, got ${raw.length}`);
    this.ttlMs = positiveInteger('resumption.ttl', aliased(options, 'ttl', 'ttlMs', 'resumption.'), 900_000);
    this.macKey = createHmac('sha256', raw).update('fileshare resume token mac').digest();
    this.stampKey = createHmac('sha256', raw).update('fileshare resume token stamp').digest();
  }

  /** A token for `user`, whose credential is `credential`, over a connection of `binding`. */
  issue(user: AuthenticatedUser, credential: string, binding: string, expiresAt = Date.now() + this.ttlMs): IssuedToken {
    const payload = Buffer.from(
      JSON.stringify({ u: user.username, e: expiresAt, b: this.bindingHash(binding), s: this.stamp(user, credential) }),
    );
    return { token: `${b64(payload)}.${b64(this.mac(payload))}`, expiresAt };
  }

  /**
   * Check a token's MAC, expiry and binding, and return its claims with the stamp to compare.
   * @throws EAUTH for any token that is not valid here and now
   */
  open(token: string, binding: string): TokenClaims & { readonly stamp: string } {
    const refuse = (why: string): never => {
      throw new FileShareError('EAUTH', `resumption token refused: ${why}`);
    };
    if (token.length > MAX_TOKEN_LENGTH) refuse('too long');
    const dot = token.indexOf('.');
    if (dot <= 0) refuse('malformed');
    const payload = Buffer.from(token.slice(0, dot), 'base64url');
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.mac(payload);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) refuse('not issued with this server key');
    let claims: { u?: unknown; e?: unknown; b?: unknown; s?: unknown };
    try {
      claims = JSON.parse(payload.toString('utf8')) as typeof claims;
    } catch {
      return refuse('malformed');
    }
    const { u, e, b, s } = claims;
    if (typeof u !== 'string' || typeof e !== 'number' || typeof b !== 'string' || typeof s !== 'string') return refuse('malformed');
    if (Date.now() >= e) refuse('expired');
    if (b !== this.bindingHash(binding)) refuse('issued for another connection type or server certificate');
    return { username: u, expiresAt: e, stamp: s };
  }

  /** The user's stamp: changes with their credential and with anything their login granted. */
  stamp(user: AuthenticatedUser, credential: string): string {
    const granted = JSON.stringify([
      user.username,
      user.home ?? null,
      [...(user.permissions ?? ['(default)'])].sort(),
      user.quotaBytes ?? null,
      user.maxFileSize ?? null,
    ]);
    return b64(createHmac('sha256', this.stampKey).update(credential).update('\0').update(granted).digest().subarray(0, 18));
  }

  private mac(payload: Buffer): Buffer {
    return createHmac('sha256', this.macKey).update(payload).digest();
  }

  private bindingHash(binding: string): string {
    return b64(createHash('sha256').update(binding).digest().subarray(0, 12));
  }
}
