/** Settings of brute-force protection. */
export interface LoginThrottleOptions {
  /** Failed logins allowed (per address and per username) before delays start. @default 5 */
  freeAttempts?: number;
  /** First delay after the free attempts, ms; it doubles with every further failure. @default 1000 */
  baseDelayMs?: number;
  /** Largest growing delay, ms. @default 60000 */
  maxDelayMs?: number;
  /** Failures after which the address or username is locked out. @default 20 */
  lockoutAfter?: number;
  /** Length of a lockout, ms. @default 900000 (15 minutes) */
  lockoutMs?: number;
  /** Failures older than this are forgotten, ms. @default 900000 */
  forgetAfterMs?: number;
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
    const o = options || {};
    this.settings = {
      freeAttempts: o.freeAttempts ?? 5,
      baseDelayMs: o.baseDelayMs ?? 1000,
      maxDelayMs: o.maxDelayMs ?? 60_000,
      lockoutAfter: o.lockoutAfter ?? 20,
      lockoutMs: o.lockoutMs ?? 900_000,
      forgetAfterMs: o.forgetAfterMs ?? 900_000,
    };
  }

  private readonly enabled: boolean;

  /** The settings with every default filled in, or null when throttling is off. */
  get effectiveSettings(): Readonly<Required<LoginThrottleOptions>> | null {
    return this.enabled ? this.settings : null;
  }
  /** The last attempt queued for each address and username: attempts sharing one run in turn. */
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Run `attempt` once every earlier attempt from the same address or for the same username has
   * finished, so that each is checked against the failures of the ones before it. Without this,
   * attempts made at the same time over several connections all passed the check before the first
   * failure was counted: 20 concurrent guesses got 20 bcrypt checks where 5 were allowed.
   * Legitimate concurrent logins just queue (bcrypt runs one at a time anyway).
   */
  async serialize<T>(address: string, username: string, attempt: () => Promise<T>): Promise<T> {
    if (!this.enabled) return attempt();
    const keys = [`a:${address}`, `u:${username}`];
    const previous = keys.map((key) => this.tails.get(key));
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    for (const key of keys) this.tails.set(key, mine);
    try {
      await Promise.all(previous);
      return await attempt();
    } finally {
      done();
      for (const key of keys) if (this.tails.get(key) === mine) this.tails.delete(key);
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
    if (now - record.lastFailure > this.settings.forgetAfterMs && now >= record.blockedUntil) {
      this.records.delete(key);
      return 0;
    }
    return Math.max(0, record.blockedUntil - now);
  }

  private fail(key: string, now: number): void {
    let record = this.records.get(key);
    if (!record || (now - record.lastFailure > this.settings.forgetAfterMs && now >= record.blockedUntil)) {
      record = { failures: 0, blockedUntil: 0, lastFailure: now };
    }
    this.records.delete(key); // re-insert: Map order doubles as least-recently-failed order
    record.failures++;
    record.lastFailure = now;
    const { freeAttempts, baseDelayMs, maxDelayMs, lockoutAfter, lockoutMs } = this.settings;
    if (record.failures >= lockoutAfter) {
      record.blockedUntil = now + lockoutMs;
    } else if (record.failures >= freeAttempts) {
      const exponent = Math.min(30, record.failures - freeAttempts);
      record.blockedUntil = now + Math.min(maxDelayMs, baseDelayMs * 2 ** exponent);
    }
    this.records.set(key, record);
    if (this.records.size > MAX_KEYS) {
      const oldest = this.records.keys().next().value;
      if (oldest !== undefined) this.records.delete(oldest);
    }
  }
}
