/**
 * The SHA-256 of a transfer stream, computed beside the data path rather than on it.
 *
 * Hashing costs about 0.7 ms of CPU per MiB on one core here. On the event loop it runs in series
 * with the socket and file work of the same transfer, which is what held large transfers to about
 * 0.5-0.8× a bare pipe while the second core sat idle. So a transfer whose size is known up front
 * and at least {@link hashOffloadSettings}' `minBytes` hashes on a worker thread: each chunk is
 * copied (a memcpy costs a few percent of hashing it) and posted, and the worker answers with the
 * count it hashed, which the streams use for backpressure (the sender stops taking chunks while
 * more than `maxBacklog` bytes wait to be hashed; the receiver grants credit only for bytes both
 * written and hashed, so what it holds stays within its window).
 *
 * Small transfers hash inline: a worker round trip at the end would cost more than the hash, and
 * small files must not get slower. So do transfers continuing a hash state (resumed transfers):
 * Node's `Hash` cannot move between threads.
 *
 * The worker is a few lines given to `new Worker` as source (`eval`), so there is no second file to
 * locate from the bundles or the packed tarball. It is referenced only while a digest is owed and
 * exits after {@link IDLE_EXIT_MS} without a transfer, so it never keeps a process alive and goes away with
 * the servers and clients that used it. Where worker threads cannot start, transfers hash inline,
 * as before, and a process warning says so once.
 * @module
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { FileShareError } from '../errors.ts';

/** A SHA-256 that can be continued (Node's `Hash`, or a storage backend's own). @internal */
export interface IncrementalHash {
  update(data: Buffer): unknown;
  digest(encoding: 'hex'): string;
}

/**
 * A transfer's running SHA-256: inline, or on a worker thread (then {@link backlog} may be > 0 and
 * {@link digest} resolves later). @internal
 */
export interface TransferHash {
  /** Whether the hashing runs on a worker thread. */
  readonly offloaded: boolean;
  /** Add a chunk. The caller may reuse its memory at once (an offloaded hash copies it). */
  update(chunk: Buffer): void;
  /** Bytes given to {@link update} and hashed already (all of them, inline). */
  readonly hashedBytes: number;
  /** Bytes given to {@link update} and not hashed yet (0 inline). */
  readonly backlog: number;
  /**
   * Hand the worker what {@link update} batched, and have `onProgress` called once it has hashed
   * more: the owner is waiting for {@link hashedBytes} to catch up (its backlog bound, or credit it
   * could grant). One call, one answer: an owner still waiting after it calls again. No-op inline.
   */
  flush(): void;
  /** The hex digest of everything given: a string inline, a promise when offloaded. Once. */
  digest(): string | Promise<string>;
  /** Forget the hash (the transfer failed or was cancelled); no-op once {@link digest} was called. Safe to call more than once. */
  dispose(): void;
}

/** What {@link createTransferHash} is told about the transfer. @internal */
export interface TransferHashOptions {
  /** Bytes the transfer will hash, when known: only a known, large size goes to a worker. */
  readonly size?: number;
  /** A hash state to continue (a resumed transfer's prefix): always inline. */
  readonly seed?: IncrementalHash;
  /** Called when the worker hashed more (a backlog shrank), or with the error if the worker failed. */
  readonly onProgress?: (error?: FileShareError) => void;
}

/** How long an unused worker thread stays up, ms (so that consecutive large transfers share it). */
export const IDLE_EXIT_MS = 2000;

/** Most worker threads hashing at once, whatever the machine. */
export const MAX_HASH_THREADS = 4;

const settings = {
  /** Smallest transfer hashed on a worker thread, bytes. */
  minBytes: 8 * 1024 * 1024,
  /** Most bytes a sender lets wait for an offloaded hash before it stops taking chunks. */
  maxBacklog: 2 * 1024 * 1024,
};

/**
 * The offload thresholds (`minBytes`: smallest transfer hashed on a worker; `maxBacklog`: most bytes
 * a sender queues for it). Changing them affects transfers started afterwards; tests use it to put
 * small files through the worker.
 * @internal
 */
export function hashOffloadSettings(change: Partial<typeof settings> = {}): Readonly<typeof settings> {
  if (change.minBytes !== undefined) settings.minBytes = change.minBytes;
  if (change.maxBacklog !== undefined) settings.maxBacklog = change.maxBacklog;
  return { ...settings };
}

/** The running hash of one transfer (see the module's notes for when it is offloaded). @internal */
export function createTransferHash(options: TransferHashOptions = {}): TransferHash {
  const { size, seed } = options;
  if (seed === undefined && size !== undefined && size >= settings.minBytes && !pool.unavailable) {
    const hash = pool.open(options.onProgress);
    if (hash) return hash;
  }
  return new InlineHash(seed ?? createHash('sha256'));
}

class InlineHash implements TransferHash {
  readonly offloaded = false;
  readonly backlog = 0;
  private bytes = 0;

  constructor(private readonly hash: IncrementalHash) {}

  get hashedBytes(): number {
    return this.bytes;
  }

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  flush(): void {}

  digest(): string {
    return this.hash.digest('hex');
  }

  dispose(): void {}
}

/** Bytes of the ring each thread shares with the main thread, through which chunks reach it. */
export const RING_BYTES = 4 * 1024 * 1024;

/** Bytes copied into the ring before the worker is told (sooner on {@link TransferHash.flush}). */
export const BATCH_BYTES = 256 * 1024;

/** Slots of the control array shared with a thread. */
const CONSUMED = 0; // ring bytes hashed so far, modulo 2^32 (the worker adds, the main thread reads)
const WANTED = 1; // 1: the main thread waits for progress; the worker answers after its next message

/**
 * Messages to the worker: a run of chunks (at `o`, `l` bytes in the ring, or `b`, a buffer of its
 * own), a wake-up (`p`: only to look at {@link WANTED}), the end (answer the digest) or a drop.
 */
type ToWorker =
  | { readonly id: number; readonly o: number; readonly l: number }
  | { readonly id: number; readonly b: Uint8Array }
  | { readonly p: 1 }
  | { readonly id: number; readonly end: true }
  | { readonly id: number; readonly drop: true };
/** Messages from the worker: `n` bytes of a buffer of its own hashed, progress (`w`), or the digest. */
type FromWorker = { readonly id: number; readonly n: number } | { readonly w: 1 } | { readonly id: number; readonly hex: string };

// Only dynamic import(): the source runs as CommonJS or as a module depending on the process's
// flags, and import() works in both. Messages posted before the listener is attached wait in the port.
// Progress through the ring is published in shared memory, not by messages: an answer per chunk
// would wake the main thread once per chunk; it reads the counter when it needs to know.
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([{ parentPort, workerData }, { createHash }]) => {
  const ring = new Uint8Array(workerData.ring);
  const control = new Int32Array(workerData.control);
  const hashes = new Map();
  const get = (id) => {
    let hash = hashes.get(id);
    if (hash === undefined) hashes.set(id, (hash = createHash('sha256')));
    return hash;
  };
  parentPort.on('message', (m) => {
    if (m.l !== undefined) {
      get(m.id).update(ring.subarray(m.o, m.o + m.l));
      Atomics.add(control, ${CONSUMED}, m.l);
    } else if (m.b !== undefined) {
      get(m.id).update(m.b);
      parentPort.postMessage({ id: m.id, n: m.b.byteLength });
    } else if (m.end) {
      const hash = hashes.get(m.id) ?? createHash('sha256');
      hashes.delete(m.id);
      parentPort.postMessage({ id: m.id, hex: hash.digest('hex') });
    } else if (m.drop) {
      hashes.delete(m.id);
    }
    if (Atomics.load(control, ${WANTED}) === 1) {
      Atomics.store(control, ${WANTED}, 0);
      parentPort.postMessage({ w: 1 });
    }
  });
});
`;

class OffloadedHash implements TransferHash {
  readonly offloaded = true;
  private given = 0;
  private hashed = 0;
  private state: 'open' | 'digesting' | 'closed' = 'open';
  private result: { resolve: (hex: string) => void; reject: (err: FileShareError) => void } | undefined;

  constructor(
    readonly id: number,
    private readonly thread: HashThread,
    private readonly onProgress: ((error?: FileShareError) => void) | undefined,
  ) {}

  get hashedBytes(): number {
    this.thread.poll();
    return this.hashed;
  }

  get backlog(): number {
    this.thread.poll();
    return this.given - this.hashed;
  }

  update(chunk: Buffer): void {
    if (this.state !== 'open' || chunk.length === 0) return;
    this.given += chunk.length;
    this.thread.hash(this.id, chunk);
  }

  flush(): void {
    if (this.state === 'open') this.thread.wantProgress();
  }

  digest(): Promise<string> {
    if (this.state !== 'open') return Promise.reject(new FileShareError('EIO', 'the transfer hash is finished'));
    this.state = 'digesting';
    return new Promise<string>((resolve, reject) => {
      this.result = { resolve, reject };
      this.thread.digestOwed(1);
      this.thread.post({ id: this.id, end: true });
    });
  }

  dispose(): void {
    // once the digest is asked for, it is answered (a stream stopped while it flushes still settles)
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.thread.post({ id: this.id, drop: true });
    this.thread.release(this);
  }

  /** @internal from the thread (no callback: it runs inside the getters above) */
  hashedMore(n: number): void {
    this.hashed += n;
  }

  /** @internal from the thread: the worker made progress that someone waited for. */
  progressed(): void {
    if (this.state === 'open') this.onProgress?.();
  }

  /** @internal from the thread */
  finished(hex: string): void {
    const result = this.result;
    if (this.state !== 'digesting' || !result) return;
    this.state = 'closed';
    this.result = undefined;
    this.thread.digestOwed(-1);
    this.thread.release(this);
    result.resolve(hex);
  }

  /** @internal from the thread: it died. */
  lost(error: FileShareError): void {
    if (this.state === 'closed') return;
    const result = this.result;
    this.state = 'closed';
    this.result = undefined;
    if (result) result.reject(error);
    else this.onProgress?.(error);
  }
}

/** One worker thread and the transfers it hashes. */
class HashThread {
  readonly hashes = new Map<number, OffloadedHash>();
  private idleTimer: NodeJS.Timeout | undefined;
  private answered = false;
  /** Answers waited for: digests asked for, and a wake-up ({@link waking}). */
  private owed = 0;
  /** {@link wantProgress} was called and the worker's wake-up has not come yet. */
  private waking = false;
  /** Where the next chunk goes in the ring, and the bytes there the worker has not hashed yet. */
  private head = 0;
  private used = 0;
  /** {@link CONSUMED} when last read. */
  private seen = 0;
  /** Runs posted and not (wholly) hashed yet, oldest first: whose bytes they are, how many are left. */
  private readonly runs: Array<{ id: number; left: number }> = [];
  /**
   * Bytes in the ring not announced yet: one message per run of chunks, posted when it reaches
   * {@link BATCH_BYTES} or someone waits (a message per 64 KiB socket read costs both threads a
   * wake-up each time).
   */
  private batch: { id: number; o: number; l: number } | undefined;

  constructor(
    private readonly worker: Worker,
    private readonly ring: Uint8Array,
    private readonly control: Int32Array,
    private readonly owner: HashPool,
  ) {
    worker.on('message', (m: FromWorker) => {
      this.answered = true;
      if ('w' in m) {
        if (this.waking) {
          this.waking = false;
          this.hold(-1);
        }
        this.poll();
        for (const hash of [...this.hashes.values()]) hash.progressed();
        return;
      }
      const hash = this.hashes.get(m.id);
      if (hash === undefined) return;
      if ('n' in m) {
        hash.hashedMore(m.n);
        hash.progressed();
      } else hash.finished(m.hex);
    });
    worker.on('error', (error) => this.die(error));
    worker.on('exit', (code) => this.die(new Error(`the hashing thread exited with code ${code}`)));
    worker.unref();
  }

  add(hash: OffloadedHash): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.hashes.set(hash.id, hash);
  }

  /**
   * The worker keeps the process alive only while someone waits for its answer (a digest, or
   * progress): an open transfer keeps it alive through its socket and files anyway, and one
   * abandoned by a crashed owner must not hold the process forever.
   */
  digestOwed(delta: 1 | -1): void {
    this.hold(delta);
  }

  private hold(delta: 1 | -1): void {
    this.owed += delta;
    if (this.owed === 1 && delta === 1) this.worker.ref();
    else if (this.owed === 0) this.worker.unref();
  }

  /** Post a message, after the batch (the worker sees everything in the order it was given). */
  post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    this.flush();
    this.worker.postMessage(message, transfer);
  }

  /**
   * Copy a chunk to be hashed into the ring (a memcpy, about 5 % of hashing it), or when the ring
   * is full, into memory of its own that moves to the worker (allocating that costs about half as
   * much as hashing it, so the ring is the common path). Either way the caller's chunk may be
   * reused as soon as this returns.
   */
  hash(id: number, chunk: Buffer): void {
    const ring = this.ring;
    if (this.used + chunk.length > ring.length) this.poll();
    if (this.used + chunk.length > ring.length) {
      const copy = Buffer.allocUnsafeSlow(chunk.length);
      chunk.copy(copy);
      this.post({ id, b: copy }, [copy.buffer as ArrayBuffer]);
      return;
    }
    this.used += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const length = Math.min(chunk.length - offset, ring.length - this.head);
      ring.set(offset === 0 && length === chunk.length ? chunk : chunk.subarray(offset, offset + length), this.head);
      const batch = this.batch;
      if (batch !== undefined && batch.id === id && batch.o + batch.l === this.head) batch.l += length;
      else {
        this.flush();
        this.batch = { id, o: this.head, l: length };
      }
      this.head = (this.head + length) % ring.length;
      offset += length;
    }
    if (this.batch !== undefined && this.batch.l >= BATCH_BYTES) this.flush();
  }

  /** Announce the batched chunks to the worker. */
  private flush(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    this.batch = undefined;
    this.runs.push({ id: batch.id, left: batch.l });
    this.worker.postMessage(batch);
  }

  /**
   * Someone waits for the worker: announce everything, and have it answer after its next message
   * (the flag is set before that message is posted, so the worker cannot miss it).
   */
  wantProgress(): void {
    if (!this.waking) {
      this.waking = true;
      this.hold(1);
    }
    Atomics.store(this.control, WANTED, 1);
    if (this.batch !== undefined) this.flush();
    else this.worker.postMessage({ p: 1 } satisfies ToWorker);
  }

  /** Read the worker's progress through the ring and credit it to the runs' hashes, in order. */
  poll(): void {
    const now = Atomics.load(this.control, CONSUMED);
    let done = (now - this.seen) >>> 0;
    if (done === 0) return;
    this.seen = now;
    this.used -= done;
    while (done > 0 && this.runs.length > 0) {
      const run = this.runs[0]!;
      const part = Math.min(run.left, done);
      run.left -= part;
      done -= part;
      this.hashes.get(run.id)?.hashedMore(part);
      if (run.left === 0) this.runs.shift();
    }
  }

  release(hash: OffloadedHash): void {
    if (!this.hashes.delete(hash.id) || this.hashes.size > 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.hashes.size === 0) this.stop();
    }, IDLE_EXIT_MS);
    this.idleTimer.unref();
  }

  /** Stop the thread (unused for {@link IDLE_EXIT_MS}). */
  stop(): void {
    clearTimeout(this.idleTimer);
    this.owner.forget(this, undefined);
    void this.worker.terminate().catch(() => undefined);
  }

  private die(cause: unknown): void {
    if (!this.owner.forget(this, this.answered ? undefined : cause)) return;
    clearTimeout(this.idleTimer);
    const error = new FileShareError('EIO', `the SHA-256 thread failed: ${(cause as Error)?.message ?? String(cause)}`);
    const hashes = [...this.hashes.values()];
    this.hashes.clear();
    for (const hash of hashes) hash.lost(error);
  }
}

/** The process's hashing threads, started on first use, one per spare core up to {@link MAX_HASH_THREADS}. */
class HashPool {
  private readonly threads: HashThread[] = [];
  private nextId = 1;
  /** Worker threads cannot start here: hash inline. */
  unavailable = false;

  private get maxThreads(): number {
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    return Math.max(1, Math.min(MAX_HASH_THREADS, cores - 1));
  }

  /** A new offloaded hash on the least busy thread, or undefined when no thread can start. */
  open(onProgress: ((error?: FileShareError) => void) | undefined): OffloadedHash | undefined {
    let thread: HashThread | undefined;
    for (const candidate of this.threads) if (thread === undefined || candidate.hashes.size < thread.hashes.size) thread = candidate;
    if (thread === undefined || (thread.hashes.size > 0 && this.threads.length < this.maxThreads)) thread = this.spawn() ?? thread;
    if (thread === undefined) return undefined;
    const hash = new OffloadedHash(this.nextId++, thread, onProgress);
    thread.add(hash);
    return hash;
  }

  /** Remove a thread that stopped; false if it was removed already. A thread that never answered marks the pool unavailable. */
  forget(thread: HashThread, neverAnswered: unknown): boolean {
    const index = this.threads.indexOf(thread);
    if (index < 0) return false;
    this.threads.splice(index, 1);
    if (neverAnswered !== undefined && this.threads.length === 0) this.giveUp(neverAnswered);
    return true;
  }

  private spawn(): HashThread | undefined {
    let worker: Worker;
    const ring = new SharedArrayBuffer(RING_BYTES);
    const control = new SharedArrayBuffer(8);
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, name: 'fileshare-sha256', workerData: { ring, control } });
    } catch (error) {
      this.giveUp(error);
      return undefined;
    }
    const thread = new HashThread(worker, new Uint8Array(ring), new Int32Array(control), this);
    this.threads.push(thread);
    return thread;
  }

  private giveUp(error: unknown): void {
    if (this.unavailable) return;
    this.unavailable = true;
    process.emitWarning(
      `fileshare: worker threads unavailable (${(error as Error)?.message ?? String(error)}); hashing transfers on the main thread`,
      { code: 'FILESHARE_HASH_MAIN_THREAD' },
    );
  }
}

const pool = new HashPool();
