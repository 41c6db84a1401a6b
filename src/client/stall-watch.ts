/**
 * The client's side of the stall rule (docs/security.md): a watch over one transfer while it runs.
 *
 * - Data due from the server (a download that granted credit) must arrive at `stallBytes` per
 *   `stallTimeout` at least; otherwise the transfer fails with `ETIMEDOUT`.
 * - Waiting on the server otherwise (for the go-ahead, for credit, for the final answer) is not a
 *   stall by itself: the server may be busy for good reasons (a commit with fsync, an upload
 *   waiting for quota room). After `stallTimeout` without progress the server is pinged; if it does
 *   not answer within `pingTimeout`, the connection is dead (gone without a FIN) and is closed with
 *   `ETIMEDOUT`, failing everything on it. If it answers, the wait goes on.
 * @internal
 * @module
 */
import { FileShareError } from '../errors.ts';
import type { TransferContext } from './transfer-context.ts';

/** Whose turn a transfer is at a given moment. @internal */
export type TransferTurn = 'data' | 'server' | 'client';

/** What a watch samples and how it reports a stall. @internal */
export interface StallWatchTarget {
  /** Bytes moved so far. */
  moved(): number;
  /** `data`: bytes are due from the server; `server`: waiting on it otherwise; `client`: our own work. */
  turn(): TransferTurn;
  /** The transfer stalled (data due from the server did not come): fail it with `error`. */
  fail(error: FileShareError): void;
}

/** Watch a transfer; returns the function that stops the watch (call it when the transfer settles). @internal */
export function watchStall(ctx: TransferContext, what: string, target: StallWatchTarget): () => void {
  const { stallTimeout, pingTimeout } = ctx.options;
  const { clock, checkEvery } = ctx.channel.stallClock(target.moved());
  let probing = false;
  const timer = setInterval(() => {
    const turn = target.turn();
    const moved = target.moved();
    if (!clock.check(moved, turn !== 'client')) return;
    if (turn === 'data') {
      target.fail(new FileShareError('ETIMEDOUT', clock.describe(what)));
      return;
    }
    if (probing) return;
    probing = true;
    let probe: Promise<number>;
    try {
      probe = ctx.channel.ping(pingTimeout).done;
    } catch {
      probing = false;
      return; // closed meanwhile: the transfer fails with the connection's error
    }
    probe.then(
      () => {
        probing = false;
        clock.check(moved, false); // the server is alive: wait on
      },
      (err: FileShareError) => {
        probing = false;
        if (err.code !== 'ETIMEDOUT') return;
        ctx.channel.failConnection(
          new FileShareError(
            'ETIMEDOUT',
            `the server stopped answering: ${what} made no progress in ${stallTimeout} ms and a ping got no answer within ${pingTimeout} ms`,
          ),
        );
      },
    );
  }, checkEvery);
  timer.unref();
  return () => clearInterval(timer);
}
