import { aliased, positiveInteger } from '../options.ts';

/** Settings of brute-force protection. */
export interface LoginThrottleOptions {
  /** Failed logins allowed (per address and per username) before delays start. @default 5 */
  freeAttempts?: number;
  /** First delay after the free attempts, ms; it doubles with every further failure. @default 1000 */
  baseDelay?: number;
  /** Largest growing delay, ms. @default 60000 */
  maxDelay?: number;
  /** Failures after which the address or username is locked out. @default 20 */
  lockoutAfter?: number;
  /** Length of a lockout, ms. @default 900000 (15 minutes) */
  lockout?: number;
  /** Failures older than this are forgotten, ms. @default 900000 */
  forgetAfter?: number;
  /** @deprecated The old name of `baseDelay`. */
  baseDelayMs?: number;
  /** @deprecated The old name of `maxDelay`. */
  maxDelayMs?: number;
  /** @deprecated The old name of `lockout`. */
  lockoutMs?: number;
  /** @deprecated The old name of `forgetAfter`. */
  forgetAfterMs?: number;
}

/**
 * Every setting with its default filled in; the deprecated `…Ms` names carry the same values, for
 * shared-state implementations written against them.
 */
function resolveThrottle(o: LoginThrottleOptions): Required<LoginThrottleOptions> {
  const duration = (name: string, alias: string, fallback: number) =>
    positiveInteger(`loginThrottle.${name}`, aliased(o, name, alias, 'loginThrottle.'), fallback, 0);
  const baseDelay = duration('baseDelay', 'baseDelayMs', 1000);
  const maxDelay = duration('maxDelay', 'maxDelayMs', 60_000);
  const lockout = duration('lockout', 'lockoutMs', 900_000);
  const forgetAfter = duration('forgetAfter', 'forgetAfterMs', 900_000);
  return {
    freeAttempts: positiveInteger('loginThrottle.freeAttempts', o.freeAttempts, 5, 0),
    lockoutAfter: positiveInteger('loginThrottle.lockoutAfter', o.lockoutAfter, 20, 0),
    baseDelay,
    maxDelay,
    lockout,
    forgetAfter,
    baseDelayMs: baseDelay,
    maxDelayMs: maxDelay,
    lockoutMs: lockout,
    forgetAfterMs: forgetAfter,
  };
}

interface Record {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

/** Most tracked keys; the oldest are dropped beyond it, so an attacker cannot exhaust memory. */
const MAX_KEYS = 100_000;

/**
 * Brute-force throttling of logins, per client address and per username: a few free attempts,
 * then a delay that doubles with each failure, then a lockout. A throttled attempt is refused at
 * once with `ETHROTTLED` (no bcrypt work, no sleeping connection), so an attacker being throttled
 * costs the server nothing and does not slow other users down.
 * @internal
 */
export class LoginGuard {
  private readonly records = new Map<string, Record>();
  private readonly settings: Required<LoginThrottleOptions>;

  constructor(
    options: LoginThrottleOptions | false = {},
    private readonly now: () => number = Date.now,
  ) {
    this.enabled = options !== false;
    this.settings = resolveThrottle(options || {});
  }

  private readonly enabled: boolean;
  /** The settings with every default filled in, or null when throttling is off. */
  get effectiveSettings(): Readonly<Required<LoginThrottleOptions>> | null {
    return this.enabled ? this.settings : null;
  }
  /** Attempts running now, per address and username key. */
  private readonly running = new Map<string, number>();
  /** Attempts waiting for a slot, oldest first. */
  private readonly waiting: { readonly keys: readonly string[]; readonly start: () => void }[] = [];

  /**
   * Run `attempt` when it fits: per address and per username, no more attempts run at once than
   * that key has free attempts left (at least one). Every attempt is thus checked against the
   * failures of all but its free-attempt's worth of concurrent neighbours: 20 concurrent guesses
   * get at most 5 bcrypt checks before the throttle answers, as if they had come one by one, while
   * legitimate concurrent logins of one user (or many users behind one address) still verify in
   * parallel on the bcrypt threads. A key with no free attempts left runs one attempt at a time.
   */
  async serialize<T>(address: string, username: string, attempt: () => Promise<T>): Promise<T> {
    if (!this.enabled) return attempt();
    const keys = [`a:${address}`, `u:${username}`];
    const started = new Promise<void>((resolve) => this.waiting.push({ keys, start: resolve }));
    this.admit();
    await started;
    try {
      return await attempt();
    } finally {
      for (const key of keys) {
        const n = (this.running.get(key) ?? 1) - 1;
        if (n <= 0) this.running.delete(key);
        else this.running.set(key, n);
      }
      this.admit();
    }
  }

  /** How many attempts of a key may run at once: its free attempts left, at least one. */
  private allowance(key: string): number {
    const failures = this.records.get(key)?.failures ?? 0;
    return Math.max(1, this.settings.freeAttempts - failures);
  }

  private fits(keys: readonly string[]): boolean {
    return keys.every((key) => (this.running.get(key) ?? 0) < this.allowance(key));
  }

  private take(keys: readonly string[]): void {
    for (const key of keys) this.running.set(key, (this.running.get(key) ?? 0) + 1);
  }

  /** Start waiting attempts that fit, oldest first; one that does not fit holds back later ones of its keys. */
  private admit(): void {
    const held = new Set<string>();
    for (let i = 0; i < this.waiting.length;) {
      const waiter = this.waiting[i]!;
      if (!waiter.keys.some((key) => held.has(key)) && this.fits(waiter.keys)) {
        this.waiting.splice(i, 1);
        this.take(waiter.keys);
        waiter.start();
        continue;
      }
      for (const key of waiter.keys) held.add(key);
      i++;
    }
  }

  /** Milliseconds the caller must still wait before trying again (0: go ahead). */
  check(address: string, username: string): number {
    if (!this.enabled) return 0;
    const now = this.now();
    return Math.max(this.waitFor(`a:${address}`, now), this.waitFor(`u:${username}`, now));
  }

  /** Count a failed login. */
  recordFailure(address: string, username: string): void {
    if (!this.enabled) return;
    const now = this.now();
    this.fail(`a:${address}`, now);
    this.fail(`u:${username}`, now);
  }

  /** A successful login clears the username's record and the address's. */
  recordSuccess(address: string, username: string): void {
    this.records.delete(`a:${address}`);
    this.records.delete(`u:${username}`);
  }

  /** Forget everything (server shutdown). */
  close(): void {
    this.records.clear();
  }

  private waitFor(key: string, now: number): number {
    const record = this.records.get(key);
    if (!record) return 0;
    if (now - record.lastFailure > this.settings.forgetAfter && now >= record.blockedUntil) {
      this.records.delete(key);
      return 0;
    }
    return Math.max(0, record.blockedUntil - now);
  }

  private fail(key: string, now: number): void {
    let record = this.records.get(key);
    if (!record || (now - record.lastFailure > this.settings.forgetAfter && now >= record.blockedUntil)) {
      record = { failures: 0, blockedUntil: 0, lastFailure: now };
    }
    this.records.delete(key); // re-insert: Map order doubles as least-recently-failed order
    record.failures++;
    record.lastFailure = now;
    const { freeAttempts, baseDelay, maxDelay, lockoutAfter, lockout } = this.settings;
    if (record.failures >= lockoutAfter) {
      record.blockedUntil = now + lockout;
    } else if (record.failures >= freeAttempts) {
      const exponent = Math.min(30, record.failures - freeAttempts);
      record.blockedUntil = now + Math.min(maxDelay, baseDelay * 2 ** exponent);
    }
    this.records.set(key, record);
    if (this.records.size > MAX_KEYS) {
      const oldest = this.records.keys().next().value;
      if (oldest !== undefined) this.records.delete(oldest);
    }
  }
}
