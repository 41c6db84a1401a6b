/**
 * The stall rule of transfers, the same on the server and the client: while a transfer's data is
 * due from the peer (the peer holds credit for it), the peer must deliver at least `bytes` in every
 * `ms`; otherwise the transfer has stalled and fails with `ETIMEDOUT`. Time during which it is this
 * side's turn (a slow disk, an upload waiting for quota room) does not count. A floor on the rate
 * rather than a timeout per frame: a DATA frame streams through as it arrives, so a peer sending
 * one byte a second would otherwise restart every clock and hold the transfer forever.
 * @internal
 * @module
 */

/** Default `stallTimeout`: 60 s. @internal */
export const DEFAULT_STALL_TIMEOUT = 60_000;
/** Default `stallBytes`: 16 KiB (a floor of about 270 bytes per second). @internal */
export const DEFAULT_STALL_BYTES = 16 * 1024;

/** How often a stall clock should be checked for a rule of `ms`: often enough to cut within about 1.25 `ms`. @internal */
export function stallCheckInterval(ms: number): number {
  return Math.max(10, Math.min(30_000, Math.floor(ms / 4)));
}

/**
 * Watches one transfer's running byte count, sampled with {@link StallClock.check}. @internal
 */
export class StallClock {
  private since: number;
  private mark: number;

  constructor(
    private readonly bytes: number,
    private readonly ms: number,
    total = 0,
    now = Date.now(),
  ) {
    this.since = now;
    this.mark = total;
  }

  /**
   * Sample the transfer: `total` bytes moved so far, and whether the peer is the one to move next.
   * True when it moved fewer than `bytes` in the last `ms` of the peer's turns.
   */
  check(total: number, peersTurn: boolean, now = Date.now()): boolean {
    if (!peersTurn || total - this.mark >= this.bytes) {
      this.since = now;
      this.mark = total;
      return false;
    }
    return now - this.since >= this.ms;
  }

  /** The message of the `ETIMEDOUT` error. */
  describe(what: string): string {
    return `${what} moved fewer than ${this.bytes} bytes in ${this.ms} ms (the stall rule)`;
  }
}
