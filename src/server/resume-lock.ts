/**
 * The lock that keeps a resumable upload running once at a time. Within this server, a newer
 * attempt of an upload takes over from the older one (its connection died without the server
 * noticing): the decision is the server's, the storage backend is never called back. Across nodes,
 * the shared store decides when the server was given resume locks shared by all nodes
 * ({@link SharedResumeLocks}); without them the storage backend locks on its own (and refuses a
 * second attempt it did not expect with `EBUSY`).
 * @internal
 * @module
 */
import { FileShareError, isFileShareError } from '../errors.ts';
import type { SharedResumeLocks } from './shared-state.ts';

/** A resume lock this server holds for one attempt. @internal */
export interface HeldResumeLock {
  /** Whether the lock is held in the store every node shares (the storage then takes none of its own). */
  readonly shared: boolean;
  /** The attempt is over (committed, failed or suspended): let go. Never rejects. */
  release(): Promise<void>;
}

/** Most takeovers in a row one attempt waits through (a flood of attempts of one upload). */
const MAX_TAKEOVERS = 8;

/** @internal */
export class ResumeLockTable {
  private readonly running = new Map<string, { readonly takeover: () => Promise<void>; readonly settled: Promise<void> }>();

  constructor(private readonly shared: SharedResumeLocks | undefined) {}

  /** Whether attempts lock through the shared store (the storage then needs no cross-node lock of its own). */
  get isShared(): boolean {
    return this.shared !== undefined;
  }

  /**
   * Lock the resumable upload `key` for one attempt, which `takeover` stops (resolving once it
   * has let go): an attempt of the same upload already running on this server is taken over first.
   * @throws EBUSY when another node runs the upload (or attempts keep coming), EIO when the store fails
   */
  async acquire(key: string, takeover: () => Promise<void>): Promise<HeldResumeLock> {
    const shared = this.shared;
    for (let i = 0; this.running.has(key); i++) {
      if (i === MAX_TAKEOVERS) throw new FileShareError('EBUSY', 'this upload is in progress');
      const older = this.running.get(key)!;
      await older.takeover();
      await older.settled;
    }
    let settle!: () => void;
    const entry = { takeover, settled: new Promise<void>((resolve) => (settle = resolve)) };
    this.running.set(key, entry); // before the await: a second attempt now takes over from this one
    const forget = () => {
      if (this.running.get(key) === entry) this.running.delete(key);
      settle();
    };
    if (!shared) {
      return {
        shared: false,
        release: () => {
          forget();
          return Promise.resolve();
        },
      };
    }
    let lock;
    try {
      lock = await shared.acquire(key);
    } catch (err) {
      forget();
      if (isFileShareError(err)) throw err;
      throw new FileShareError('EIO', `shared resume lock failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    if (!lock) {
      forget();
      throw new FileShareError('EBUSY', 'this upload is in progress on another node');
    }
    const held = lock;
    let released: Promise<void> | undefined;
    return {
      shared: true,
      release: () => {
        released ??= held
          .release()
          .catch(() => {})
          .finally(forget);
        return released;
      },
    };
  }
}
