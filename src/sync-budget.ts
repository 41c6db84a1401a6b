/**
 * The per-turn budget of synchronous file work, shared by the local storage backend (small uploads
 * and reads on the server) and the client (small local reads and writes): both run a few fs calls
 * inline where a thread-pool round trip would cost more than the call, and one budget per process
 * keeps the event loop's turn short whoever spends it.
 * @internal
 * @module
 */

/**
 * Milliseconds of synchronous small-file work allowed per turn of the event loop. Past it, a new
 * small upload creates its file on the thread pool and a small read takes the pooled path, so a
 * burst of small files arriving in one socket read (a dozen or more) cannot hold the loop for long.
 * About what hashing the 1 MiB a connection reads per turn costs.
 */
const TURN_BUDGET_MS = 1;
let spentThisTurn = 0;
let resetPending = false;

function resetTurn(): void {
  spentThisTurn = 0;
  resetPending = false;
}

/** Is there time left for synchronous small-file work in this turn of the event loop? @internal */
export function syncBudgetLeft(): boolean {
  return spentThisTurn < TURN_BUDGET_MS;
}

/** Run `work` (synchronous fs calls) and count its time against this turn's budget. @internal */
export function charged<T>(work: () => T): T {
  const start = performance.now();
  try {
    return work();
  } finally {
    spentThisTurn += performance.now() - start;
    if (!resetPending) {
      resetPending = true;
      setImmediate(resetTurn);
    }
  }
}
