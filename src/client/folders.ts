/**
 * Whole-folder transfers built on the client's own public calls: walk one side, create the folders
 * on the other, then move the files `concurrency` at a time over the one connection, each as an
 * ordinary atomic, SHA-256-verified upload or download.
 * @internal
 * @module
 */
import { setMaxListeners } from 'node:events';
import { lstatSync, mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { FileShareError, toFileShareError } from '../errors.ts';
import type { TransferProgress } from '../metrics/events.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { abortError, onAbort, reportProgress, throwIfAborted } from './abort.ts';
import type { FolderClient, FolderOptions, FolderResult, SkipReason, TreeEntry } from './folder-types.ts';
import { DEFAULT_FOLDER_CONCURRENCY, remoteJoin, selection, type WalkedEntry, walkLocal, walkRemote } from './folder-walk.ts';
import { charged, syncBudgetLeft } from '../sync-budget.ts';
import type { TransferResult } from './transfer-types.ts';
import { destinationChecked } from './download.ts';
import type { BatchFileUpload, Batcher, BatchOutcome } from './upload-batch.ts';

const PROGRESS_INTERVAL_MS = 100;

/** One file to move; `run` resolves to its result, or to why it was skipped after all. @internal */
export interface FileJob {
  readonly path: string;
  readonly size: number;
  run(signal: AbortSignal, onBytes: (bytes: number) => void): Promise<TransferResult | SkipReason>;
  /** An upload that may go in a batch with others of the same options (see upload-batch.ts). */
  readonly batch?: BatchableUpload;
}

/** What a batch needs of an upload job. @internal */
export interface BatchableUpload extends BatchFileUpload {
  readonly overwrite: boolean;
  readonly preserveMtime: boolean;
}

/** Upload a local folder's tree into `remoteDir` (created if missing). @internal */
export async function uploadDir(
  client: FolderClient,
  localDir: string,
  remoteDir: string,
  options: FolderOptions = {},
  batcher?: Batcher,
): Promise<FolderResult> {
  checkFolderOptions(options);
  const started = Date.now();
  const tree = await walkLocal(localDir, options, selection(options));
  const foldersCreated = await createRemoteFolders(
    client,
    remoteDir,
    tree.entries.filter((e) => e.type === 'directory'),
    options.signal,
    options.concurrency,
  );
  const jobs = tree.entries.filter((e) => e.type === 'file').map((e) => uploadJob(client, e, remoteJoin(remoteDir, e.path), options));
  return runJobs(jobs, options, { skipped: tree.skipped, foldersCreated, started }, batcher);
}

/** Download a remote folder's tree into `localDir` (created if missing). @internal */
export async function downloadDir(
  client: FolderClient,
  remoteDir: string,
  localDir: string,
  options: FolderOptions = {},
): Promise<FolderResult> {
  checkFolderOptions(options);
  const started = Date.now();
  const tree = await walkRemote(client, remoteDir, options, selection(options));
  const made = await createLocalFolders(
    localDir,
    tree.entries.filter((e) => e.type === 'directory'),
    options,
  );
  const skipped = [...tree.skipped, ...made.skipped];
  const jobs: FileJob[] = [];
  for (const e of tree.entries) {
    if (e.type !== 'file') continue;
    if (made.unusable.some((dir) => e.path.startsWith(`${dir}/`))) {
      skipped.push({ path: e.path, reason: 'symlink' });
      continue;
    }
    jobs.push(downloadJob(client, remoteJoin(remoteDir, e.path), e, localPath(made.root, e.path), options));
  }
  return runJobs(jobs, options, { skipped, foldersCreated: made.created, started });
}

/** The upload of one file; an existing target without `overwrite` is a skip, not a failure. @internal */
export function uploadJob(
  client: FolderClient,
  entry: WalkedEntry,
  remotePath: string,
  options: FolderOptions,
  overwrite = options.overwrite === true,
): FileJob {
  const preserveMtime = options.preserveMtime !== false;
  return {
    path: entry.path,
    size: entry.size,
    // a resumable upload needs its own request: the server keeps its data under its own key
    ...(options.resume === true ? {} : { batch: { local: entry.local!, remotePath, overwrite, preserveMtime } }),
    async run(signal, onBytes) {
      try {
        return await client.upload(entry.local!, remotePath, {
          overwrite,
          resume: options.resume === true,
          preserveMtime,
          signal,
          ...(options.onProgress ? { onProgress: (p: TransferProgress) => onBytes(p.bytes) } : {}),
        });
      } catch (err) {
        if (!overwrite && (err as FileShareError).code === 'EEXIST') return 'exists';
        throw err;
      }
    },
  };
}

/**
 * The download of one file to `target`. A local symbolic link or folder in the way is never written
 * through; an existing file without `overwrite` is a skip.
 * @internal
 */
export function downloadJob(
  client: FolderClient,
  remotePath: string,
  entry: TreeEntry,
  target: string,
  options: FolderOptions,
  overwrite = options.overwrite === true,
): FileJob {
  return {
    path: entry.path,
    size: entry.size,
    async run(signal, onBytes) {
      // a lookup answered from the kernel's caches: synchronous, which saves a thread-pool trip per file
      const there = lookUp(target);
      if (there?.isSymbolicLink()) return 'symlink';
      if (there?.isDirectory()) throw new FileShareError('EISDIR', `a local folder is in the way: ${target}`);
      if (there && !overwrite) return 'exists';
      return client.download(
        remotePath,
        target,
        // the lookup above showed no folder there: download() need not look again
        destinationChecked({
          resume: options.resume === true,
          preserveMtime: options.preserveMtime !== false,
          signal,
          // the bytes of the files in flight count only toward the aggregate progress
          ...(options.onProgress ? { onProgress: (p: TransferProgress) => onBytes(p.bytes) } : {}),
        }),
      );
    },
  };
}

/** `lstat` of a local path, or undefined when there is nothing there (or it cannot be looked at). */
function lookUp(file: string): ReturnType<typeof lstatSync> {
  try {
    return lstatSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** A relative tree path under a local folder. @internal */
export function localPath(root: string, rel: string): string {
  return path.join(root, ...rel.split('/'));
}

/** @throws TypeError for a bad `concurrency` @internal */
export function checkFolderOptions(options: FolderOptions): void {
  const c = options.concurrency;
  if (c !== undefined && (!Number.isSafeInteger(c) || c < 1 || c > 64)) throw new TypeError('concurrency must be an integer from 1 to 64');
  throwIfAborted(options.signal);
}

/**
 * Create `remoteDir` (with parents) and the tree's folders under it, a level at a time, up to
 * `inFlight` requests at once (the files' `concurrency`: the same bound on what is in flight).
 * Resolves to how many were new (`remoteDir` counts as one).
 * @internal
 */
export async function createRemoteFolders(
  client: FolderClient,
  remoteDir: string,
  dirs: readonly TreeEntry[],
  signal: AbortSignal | undefined,
  inFlight = DEFAULT_FOLDER_CONCURRENCY,
): Promise<number> {
  let created = 0;
  try {
    await client.mkdir(remoteDir);
    created++;
  } catch (err) {
    const code = (err as FileShareError).code;
    if (code === 'ENOENT') {
      await client.mkdir(remoteDir, { recursive: true });
      created++;
    } else if (code !== 'EEXIST') throw err;
  }
  const byDepth = new Map<number, TreeEntry[]>();
  for (const d of dirs) {
    const depth = d.path.split('/').length;
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), d]);
  }
  for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
    const level = byDepth.get(depth)!;
    for (let i = 0; i < level.length; i += inFlight) {
      throwIfAborted(signal);
      await Promise.all(
        level.slice(i, i + inFlight).map(async (d) => {
          try {
            await client.mkdir(remoteJoin(remoteDir, d.path));
            created++;
          } catch (err) {
            if ((err as FileShareError).code !== 'EEXIST') throw err;
          }
        }),
      );
    }
  }
  return created;
}

/**
 * Create `localDir` and the tree's folders under it. A folder whose place holds a symbolic link is
 * used only with `followSymlinks` and when it leads inside `localDir`; otherwise its subtree is left
 * out (`unusable`), so no byte is ever written outside the folder given.
 * @internal
 */
export async function createLocalFolders(
  localDir: string,
  dirs: readonly TreeEntry[],
  options: FolderOptions,
): Promise<{ root: string; created: number; unusable: string[]; skipped: Array<{ path: string; reason: SkipReason }> }> {
  let created =
    (await fsp.mkdir(localDir, { recursive: true }).catch((err: unknown) => {
      throw toFileShareError(err);
    })) === undefined
      ? 0
      : 1;
  const root = await fsp.realpath(localDir);
  const unusable: string[] = [];
  const skipped: Array<{ path: string; reason: SkipReason }> = [];
  for (const d of dirs) {
    // between turns only: the folders are made inline while this turn's budget of synchronous file work lasts
    if (!syncBudgetLeft()) await new Promise((resolve) => setImmediate(resolve));
    throwIfAborted(options.signal);
    if (unusable.some((u) => d.path.startsWith(`${u}/`))) continue;
    const abs = localPath(root, d.path);
    try {
      // synchronous: through the thread pool each folder cost a round trip (two thread hand-offs)
      // before the first file could start, and nothing else of the transfer runs meanwhile
      charged(() => mkdirSync(abs));
      created++;
      continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toFileShareError(err);
    }
    const info = lstatSync(abs);
    if (info.isDirectory()) continue;
    if (info.isSymbolicLink() && options.followSymlinks) {
      const real = await fsp.realpath(abs).catch(() => undefined);
      const rel = real === undefined ? '..' : path.relative(root, real);
      if (real !== undefined && rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) && (await fsp.stat(real)).isDirectory())
        continue;
    }
    if (!info.isSymbolicLink()) throw new FileShareError('ENOTDIR', `a local file is in the way of the folder ${abs}`);
    unusable.push(d.path);
    skipped.push({ path: d.path, reason: 'symlink' });
  }
  return { root, created, unusable, skipped };
}

/** Files above this size are large: a few of them move at once, alongside the small ones. */
const LARGE_FILE_BYTES = 64 * 1024;
/** At most one in this many of the files in flight is a large one (and at least one). */
const LARGE_SHARE = 8;

/**
 * The jobs in the order they start: small files in walk order, with up to `largeInFlight` large
 * ones (largest first) moving beside them. Large files stream at a rate flow control and the
 * socket set; small ones each cost a round trip and a file creation. Left in walk order, the large
 * ones (a walk lists a folder's files and subfolders by name) can come last and run alone, both
 * processes mostly idle; started all at once, they take the slots of the small files.
 * @internal
 */
export class JobQueue {
  readonly #small: FileJob[];
  readonly #large: FileJob[];
  #nextSmall = 0;
  #nextLarge = 0;
  #largeRunning = 0;

  constructor(
    jobs: readonly FileJob[],
    private readonly largeInFlight: number,
  ) {
    this.#small = jobs.filter((j) => j.size <= LARGE_FILE_BYTES);
    this.#large = jobs.filter((j) => j.size > LARGE_FILE_BYTES).sort((a, b) => b.size - a.size);
  }

  /** The next job to start, or undefined when all have started. */
  take(): FileJob | undefined {
    const smallLeft = this.#nextSmall < this.#small.length;
    if (this.#nextLarge < this.#large.length && (this.#largeRunning < this.largeInFlight || !smallLeft)) {
      this.#largeRunning++;
      return this.#large[this.#nextLarge++];
    }
    return smallLeft ? this.#small[this.#nextSmall++] : undefined;
  }

  /**
   * The next small job if `fits` takes it (a batch growing with the jobs after its first), else
   * undefined; the job is then left for {@link take}.
   */
  takeSmallIf(fits: (job: FileJob) => boolean): FileJob | undefined {
    const next = this.#small[this.#nextSmall];
    if (!next || !fits(next)) return undefined;
    this.#nextSmall++;
    return next;
  }

  /** A job taken has finished (either way). */
  done(job: FileJob): void {
    if (job.size > LARGE_FILE_BYTES) this.#largeRunning--;
  }
}

/** Run the jobs `concurrency` at a time, with aggregate progress and the error policy. @internal */
export async function runJobs(
  jobs: readonly FileJob[],
  options: FolderOptions,
  base: { skipped: Array<{ path: string; reason: SkipReason }>; foldersCreated: number; started: number },
  batcher?: Batcher,
): Promise<FolderResult> {
  const concurrency = options.concurrency ?? DEFAULT_FOLDER_CONCURRENCY;
  const transferred: Array<{ path: string; result: TransferResult }> = [];
  const skipped = [...base.skipped];
  const failed: Array<{ path: string; error: FileShareError }> = [];
  const internal = new AbortController();
  // every file in flight listens on it: above Node's default of 10, which warns of a leak
  setMaxListeners(10 + 2 * concurrency, internal.signal);
  const stopListening = onAbort(options.signal, () => internal.abort(options.signal!.reason));
  const running = new Map<string, number>();
  const bytesTotal = jobs.reduce((n, j) => n + j.size, 0);
  let bytesFinished = 0;
  let filesDone = 0;
  let firstError: FileShareError | undefined;
  let lastReport = 0;

  const report = (force: boolean) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!force && now - lastReport < PROGRESS_INTERVAL_MS) return;
    lastReport = now;
    let bytesDone = bytesFinished;
    for (const n of running.values()) bytesDone += n;
    const elapsedMs = now - base.started;
    reportProgress(options.onProgress, {
      filesDone,
      filesTotal: jobs.length,
      bytesDone,
      bytesTotal,
      current: [...running.keys()],
      elapsedMs,
      mbps: megabytesPerSecond(bytesDone, elapsedMs),
    });
  };
  const notify = (event: Parameters<NonNullable<FolderOptions['onFile']>>[0]) => reportProgress(options.onFile, event);

  const queue = new JobQueue(jobs, Math.max(1, Math.floor(concurrency / LARGE_SHARE)));
  /** A job is over, whichever way. */
  const settle = (job: FileJob) => {
    queue.done(job);
    running.delete(job.path);
    filesDone++;
    report(false);
  };
  const succeed = (job: FileJob, outcome: TransferResult | SkipReason) => {
    if (typeof outcome === 'string') {
      skipped.push({ path: job.path, reason: outcome });
      notify({ outcome: 'skipped', path: job.path, reason: outcome });
    } else {
      transferred.push({ path: job.path, result: outcome });
      bytesFinished += outcome.bytes;
      notify({ outcome: 'transferred', path: job.path, result: outcome });
    }
    settle(job);
  };
  const fail = (job: FileJob, err: unknown) => {
    const error = toFileShareError(err);
    // a file cancelled because another failed, or by the caller, is not a failure of its own
    if (!internal.signal.aborted) {
      failed.push({ path: job.path, error });
      notify({ outcome: 'failed', path: job.path, error });
      if (!options.continueOnError) {
        firstError = error;
        internal.abort(error);
      }
    }
    settle(job);
  };
  const runOne = async (job: FileJob) => {
    running.set(job.path, 0);
    let outcome: TransferResult | SkipReason;
    try {
      outcome = await job.run(internal.signal, (bytes) => {
        running.set(job.path, bytes);
        report(false);
      });
    } catch (err) {
      return fail(job, err);
    }
    succeed(job, outcome);
  };
  /** Small uploads after `first` that fit one batch with it (same options, within the batch's bounds). */
  const batchAfter = (first: FileJob, limits: Batcher['limits']): FileJob[] => {
    const lead = first.batch!;
    const group = [first];
    let bytes = first.size;
    while (group.length < limits.files) {
      const next = queue.takeSmallIf(
        (j) =>
          j.batch !== undefined &&
          j.batch.overwrite === lead.overwrite &&
          j.batch.preserveMtime === lead.preserveMtime &&
          j.size <= limits.fileBytes &&
          bytes + j.size <= limits.bytes,
      );
      if (!next) break;
      group.push(next);
      bytes += next.size;
    }
    return group;
  };
  const runBatch = async (group: FileJob[], batch: Batcher) => {
    for (const job of group) running.set(job.path, 0);
    const { overwrite, preserveMtime } = group[0]!.batch!;
    let outcomes: BatchOutcome[];
    try {
      outcomes = await batch.upload(
        group.map((j) => j.batch!),
        { overwrite, preserveMtime, signal: internal.signal },
      );
    } catch (err) {
      for (const job of group) fail(job, err);
      return;
    }
    const single: FileJob[] = [];
    for (const [i, job] of group.entries()) {
      const outcome = outcomes[i]!;
      if (outcome === 'single') single.push(job);
      else if (outcome instanceof FileShareError) {
        if (!overwrite && outcome.code === 'EEXIST') succeed(job, 'exists');
        else fail(job, outcome);
      } else succeed(job, outcome);
    }
    for (const job of single) {
      if (internal.signal.aborted) fail(job, abortError(internal.signal));
      else await runOne(job);
    }
  };
  const worker = async () => {
    while (!internal.signal.aborted) {
      const job = queue.take();
      if (!job) break;
      if (batcher && job.batch && job.size <= batcher.limits.fileBytes) {
        const group = batchAfter(job, batcher.limits);
        if (group.length > 1) {
          await runBatch(group, batcher);
          continue;
        }
      }
      await runOne(job);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  } finally {
    stopListening();
  }
  if (options.signal?.aborted) throw abortError(options.signal);
  if (firstError) {
    throw new FileShareError(firstError.code, `${failed[0]!.path}: ${firstError.message}`, { cause: firstError });
  }
  report(true);
  const ms = Date.now() - base.started;
  const bytes = transferred.reduce((n, t) => n + t.result.bytes, 0);
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    transferred: transferred.sort(byPath),
    skipped: skipped.sort(byPath),
    failed: failed.sort(byPath),
    foldersCreated: base.foldersCreated,
    bytes,
    ms,
    mbps: megabytesPerSecond(bytes, ms),
  };
}
