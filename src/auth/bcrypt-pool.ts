/**
 * bcrypt off the event loop: a small pool of worker threads running bcryptjs.
 *
 * A cost-10 bcrypt check costs 50-100 ms of CPU. Run on the event loop, every login stalls every
 * other connection of the server for that long, and logins cannot use more than one core. Here
 * each computation is posted to one of a few worker threads (one per core, at most
 * {@link MAX_THREADS}), so the loop only posts and receives two short messages.
 *
 * The worker is a few lines of plain JavaScript given to `new Worker` as source (`eval`), loading
 * bcryptjs from the file this module resolves. So there is no second file to locate, and the
 * same code works from the TypeScript source (tests, tsx), a transpiled copy (the bench) and the
 * bundled `dist/index.js` / `index.cjs`.
 *
 * Where worker threads cannot start (a sandbox without them, a bundler that moved this file), the
 * pool falls back to bcryptjs on the main thread, one computation at a time with an event-loop turn
 * before each, and says so once with a process warning.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { FileShareError } from '../errors.ts';

/** Most worker threads a pool starts, whatever the machine. */
export const MAX_THREADS = 8;

/** Most computations waiting for a thread before new ones are refused with `EBUSY`. */
export const DEFAULT_MAX_QUEUED = 4096;

type Job =
  | { readonly op: 'hash'; readonly plain: string; readonly cost: number }
  | { readonly op: 'compare'; readonly plain: string; readonly hash: string };

interface Request {
  readonly id: number;
  readonly job: Job;
}

type Reply = { readonly id: number; readonly value: string | boolean } | { readonly id: number; readonly error: string };

function compute(job: Job): Promise<string | boolean> {
  return job.op === 'hash' ? bcrypt.hash(job.plain, job.cost) : bcrypt.compare(job.plain, job.hash);
}

/**
 * The worker thread: answers {@link Request}s with {@link Reply}s, one at a time (a thread runs one
 * bcrypt at once anyway), with the same bcryptjs the main thread would use.
 */
// Only dynamic import(): the source runs as CommonJS or as a module depending on the process's
// flags (--input-type, --experimental-default-type), and import() works in both.
const WORKER_SOURCE = `
import('node:worker_threads').then(({ parentPort, workerData }) =>
  import(workerData.bcryptUrl).then((loaded) => {
    const bcrypt = loaded.default ?? loaded;
    parentPort.on('message', ({ id, job }) => {
      const work = job.op === 'hash' ? bcrypt.hash(job.plain, job.cost) : bcrypt.compare(job.plain, job.hash);
      work.then(
        (value) => parentPort.postMessage({ id, value }),
        (error) => parentPort.postMessage({ id, error: String((error && error.message) || error) }),
      );
    });
  }),
);
`;

/** This module's own file (ESM: import.meta.url; the CommonJS build: __filename). */
function ownFile(): string | undefined {
  if (typeof __filename === 'string') return __filename;
  try {
    const url = import.meta.url;
    return typeof url === 'string' ? fileURLToPath(url) : undefined;
  } catch {
    return undefined;
  }
}

let bcryptUrl: string | undefined;

/** File URL of bcryptjs's CommonJS entry, as resolved from this package. */
function resolveBcrypt(): string {
  if (bcryptUrl === undefined) {
    const from = ownFile();
    if (from === undefined) throw new Error('cannot locate the fileshare module to resolve bcryptjs from');
    bcryptUrl = pathToFileURL(createRequire(from).resolve('bcryptjs')).href;
  }
  return bcryptUrl;
}

interface Pending {
  readonly job: Job;
  readonly resolve: (value: string | boolean) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  busy: Pending | undefined;
  id: number;
  /** Whether this thread ever answered: one that dies before its first answer cannot run here. */
  answered: boolean;
}

/** Options of {@link BcryptPool}. */
export interface BcryptPoolOptions {
  /** Worker threads. Default: the machine's available parallelism, at most {@link MAX_THREADS}. */
  readonly threads?: number;
  /** Most computations waiting for a thread; one more is refused with `EBUSY`. */
  readonly maxQueued?: number;
}

/**
 * A FIFO pool of bcrypt worker threads, started lazily. Threads are unreferenced while idle, so
 * an idle pool never keeps the process alive.
 * @internal
 */
export class BcryptPool {
  readonly threads: number;
  readonly maxQueued: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private fallback = false;
  private fallbackLane: Promise<unknown> = Promise.resolve();
  private nextId = 0;

  constructor(options: BcryptPoolOptions = {}) {
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    this.threads = Math.max(1, Math.min(MAX_THREADS, options.threads ?? cores));
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  /** Computations waiting for a thread (not counting those running). */
  get queued(): number {
    return this.queue.length;
  }

  /** Whether the pool runs bcrypt on the main thread because worker threads could not start. */
  get onMainThread(): boolean {
    return this.fallback;
  }

  /** bcrypt hash of `plain` at `cost`. */
  hash(plain: string, cost: number): Promise<string> {
    return this.submit({ op: 'hash', plain, cost }) as Promise<string>;
  }

  /** Whether `plain` matches `hash`. */
  compare(plain: string, hash: string): Promise<boolean> {
    return this.submit({ op: 'compare', plain, hash }) as Promise<boolean>;
  }

  /** Stop every thread; queued computations fail with `ECLOSED`. The pool starts afresh on next use. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const pending of this.queue.splice(0)) pending.reject(new FileShareError('ECLOSED', 'bcrypt pool closed'));
    for (const slot of slots) slot.busy?.reject(new FileShareError('ECLOSED', 'bcrypt pool closed'));
    await Promise.all(slots.map((slot) => slot.worker.terminate().catch(() => undefined)));
  }

  private submit(job: Job): Promise<string | boolean> {
    if (this.fallback) return this.onLane(job);
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new FileShareError('EBUSY', `too many password checks waiting (${this.maxQueued}); try again later`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === undefined);
      if (slot === undefined && this.slots.length < this.threads) slot = this.spawn();
      if (slot === undefined) return;
      const pending = this.queue.shift()!;
      slot.busy = pending;
      slot.id = this.nextId++;
      slot.worker.ref();
      slot.worker.postMessage({ id: slot.id, job: pending.job } satisfies Request);
    }
  }

  private spawn(): Slot | undefined {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptUrl: resolveBcrypt() } });
    } catch (error) {
      this.goMainThread(error);
      return undefined;
    }
    const slot: Slot = { worker, busy: undefined, id: -1, answered: false };
    worker.on('message', (reply: Reply) => {
      const pending = slot.busy;
      if (pending === undefined || reply.id !== slot.id) return;
      slot.busy = undefined;
      slot.answered = true;
      worker.unref();
      if ('error' in reply) pending.reject(new Error(reply.error));
      else pending.resolve(reply.value);
      this.dispatch();
    });
    const lost = (error: unknown): void => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return; // closed on purpose
      this.slots.splice(index, 1);
      const pending = slot.busy;
      slot.busy = undefined;
      // A thread that never answered anything most likely cannot run here at all.
      if (this.slots.length === 0 && !slot.answered && pending !== undefined) {
        this.queue.unshift(pending);
        this.goMainThread(error);
        return;
      }
      if (pending !== undefined) this.queue.unshift(pending);
      this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`bcrypt worker exited with code ${code}`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  /** Run everything queued, and everything after, on the main thread. */
  private goMainThread(error: unknown): void {
    if (!this.fallback) {
      this.fallback = true;
      process.emitWarning(
        `fileshare: bcrypt worker threads unavailable (${(error as Error)?.message ?? error}); checking passwords on the main thread`,
        { code: 'FILESHARE_BCRYPT_MAIN_THREAD' },
      );
    }
    for (const pending of this.queue.splice(0)) this.onLane(pending.job).then(pending.resolve, pending.reject);
  }

  /** One computation at a time on the main thread, with an event-loop turn before each. */
  private onLane(job: Job): Promise<string | boolean> {
    const run = this.fallbackLane.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => compute(job));
    this.fallbackLane = run.catch(() => undefined);
    return run;
  }
}

/** The process's pool, shared by every server and every call of hashPassword / verifyPassword. */
let shared: BcryptPool | undefined;

/** @internal */
export function bcryptPool(): BcryptPool {
  shared ??= new BcryptPool();
  return shared;
}
