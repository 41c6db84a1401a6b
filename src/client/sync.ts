/**
 * `client.sync`: make one side's tree match the other's, moving only files that differ. The plan is
 * computed first (both trees walked, files compared by size and mtime, or by SHA-256), then carried
 * out with the folder-transfer machinery unless `dryRun`.
 * @internal
 * @module
 */
import { promises as fsp } from 'node:fs';
import { FileShareError, toFileShareError } from '../errors.ts';
import { megabytesPerSecond } from '../metrics/summary.ts';
import { throwIfAborted } from './abort.ts';
import type { Batcher } from './upload-batch.ts';
import type { FolderClient, FolderOptions, FolderResult, TreeEntry } from './folder-types.ts';
import {
  checkFolderOptions,
  createLocalFolders,
  createRemoteFolders,
  downloadJob,
  type FileJob,
  localPath,
  runJobs,
  uploadJob,
} from './folders.ts';
import { DEFAULT_FOLDER_CONCURRENCY, remoteJoin, selection, type Walk, type WalkedEntry, walkLocal, walkRemote } from './folder-walk.ts';
import type { LocalHashCache } from './local-hash.ts';

/** How `sync` decides that a file differs. */
export type SyncCompare =
  /** Different size or modification time (to the ms): cheap, needs mtimes preserved (the default of every folder call). */
  | 'size-mtime'
  /** Different size or SHA-256 content: the server hashes its side (cached per file version), the client its own (cached in memory). */
  | 'sha256';

/** Options of {@link FileShareClient.sync}. */
export interface SyncOptions extends Omit<FolderOptions, 'overwrite'> {
  /** `up`: make the remote folder match the local one; `down`: the reverse. */
  direction: 'up' | 'down';
  /** Also remove, on the target side, files and folders the source no longer has (not those left out by the selection options). @default false */
  delete?: boolean;
  /** Compute and return the plan; change nothing. @default false */
  dryRun?: boolean;
  /** @default 'size-mtime' */
  compare?: SyncCompare;
}

/** What `sync` will do (or, with `dryRun`, would do). Paths are relative to the two folders. */
export interface SyncPlan {
  /** As asked. */
  readonly direction: 'up' | 'down';
  /** As asked. */
  readonly compare: SyncCompare;
  /** Files the target lacks. */
  readonly create: readonly TreeEntry[];
  /** Files that differ: the target's copy is replaced. */
  readonly update: readonly TreeEntry[];
  /** Files the same on both sides: left alone. */
  readonly unchanged: readonly TreeEntry[];
  /** Folders the target lacks, created (empty ones too). */
  readonly folders: readonly TreeEntry[];
  /** What the target has and the source does not: removed only with `delete` (topmost entries; a folder goes with its content). */
  readonly extra: readonly TreeEntry[];
  /** A file on one side where the other has a folder: never resolved automatically, reported as failed. */
  readonly conflicts: readonly TreeEntry[];
  /** Bytes of the files to create and update. */
  readonly bytes: number;
}

/** The outcome of a sync. */
export interface SyncResult extends FolderResult {
  /** The plan that was carried out (or, with `dryRun`, only computed). */
  readonly plan: SyncPlan;
  /** Whether this was a dry run (then nothing was transferred, created or deleted). */
  readonly dryRun: boolean;
  /** Paths removed from the target side (with `delete`). */
  readonly deleted: readonly string[];
}

/** @internal */
export async function sync(
  client: FolderClient,
  hashes: LocalHashCache,
  localDir: string,
  remoteDir: string,
  options: SyncOptions,
  batcher?: Batcher,
): Promise<SyncResult> {
  if (options?.direction !== 'up' && options?.direction !== 'down') throw new TypeError("sync: options.direction must be 'up' or 'down'");
  const compare = options.compare ?? 'size-mtime';
  if (compare !== 'size-mtime' && compare !== 'sha256') throw new TypeError("sync: options.compare must be 'size-mtime' or 'sha256'");
  checkFolderOptions(options);
  const started = Date.now();
  const up = options.direction === 'up';
  const pick = selection(options);
  const empty: Walk = { entries: [], skipped: [] };
  const local = await walkLocal(localDir, options, pick).catch((err: FileShareError) => {
    if (!up && err.code === 'ENOENT') return empty;
    throw err;
  });
  const remote = await walkRemote(client, remoteDir, options, pick).catch((err: FileShareError) => {
    if (up && err.code === 'ENOENT') return empty;
    throw err;
  });
  const [source, target] = up ? [local, remote] : [remote, local];
  const plan = await makePlan(client, hashes, source, target, { ...options, compare }, localDir, remoteDir);
  const skipped = [...source.skipped, ...plan.unchanged.map((e) => ({ path: e.path, reason: 'unchanged' as const }))];
  if (options.dryRun) {
    return {
      plan,
      dryRun: true,
      deleted: [],
      transferred: [],
      skipped,
      failed: [],
      foldersCreated: 0,
      bytes: 0,
      ms: Date.now() - started,
      mbps: 0,
    };
  }

  const conflicts = plan.conflicts.map((e) => ({
    path: e.path,
    error: new FileShareError(
      e.type === 'file' ? 'EISDIR' : 'ENOTDIR',
      `${e.path} is a ${e.type === 'file' ? 'file' : 'folder'} on the source side but not on the target: resolve by hand`,
    ),
  }));
  if (conflicts.length > 0 && !options.continueOnError) throw conflicts[0]!.error;
  const jobs: FileJob[] = [];
  let foldersCreated: number;
  const local0 = new Map(local.entries.map((e) => [e.path, e]));
  if (up) {
    foldersCreated = await createRemoteFolders(client, remoteDir, plan.folders, options.signal, options.concurrency);
    for (const e of [...plan.create, ...plan.update])
      jobs.push(uploadJob(client, local0.get(e.path)!, remoteJoin(remoteDir, e.path), options, plan.update.includes(e)));
  } else {
    const made = await createLocalFolders(localDir, plan.folders, options);
    foldersCreated = made.created;
    skipped.push(...made.skipped);
    for (const e of [...plan.create, ...plan.update]) {
      if (made.unusable.some((dir) => e.path.startsWith(`${dir}/`))) skipped.push({ path: e.path, reason: 'symlink' });
      else jobs.push(downloadJob(client, remoteJoin(remoteDir, e.path), e, localPath(made.root, e.path), options, plan.update.includes(e)));
    }
  }
  const moved = await runJobs(jobs, options, { skipped, foldersCreated, started }, up ? batcher : undefined);

  const deleted: string[] = [];
  const failed = [...conflicts, ...moved.failed];
  if (options.delete) {
    for (const e of plan.extra) {
      throwIfAborted(options.signal);
      try {
        if (up) {
          const p = remoteJoin(remoteDir, e.path);
          await (e.type === 'directory' ? client.rmdir(p, { recursive: true }) : client.delete(p));
        } else {
          const p = localPath(localDir, e.path);
          await (e.type === 'directory' ? fsp.rm(p, { recursive: true }) : fsp.unlink(p));
        }
        deleted.push(e.path);
      } catch (err) {
        const error = toFileShareError(err);
        if (!options.continueOnError) throw new FileShareError(error.code, `deleting ${e.path}: ${error.message}`, { cause: error });
        failed.push({ path: e.path, error });
      }
    }
  }
  const ms = Date.now() - started;
  return { ...moved, failed, plan, dryRun: false, deleted, ms, mbps: megabytesPerSecond(moved.bytes, ms) };
}

async function makePlan(
  client: FolderClient,
  hashes: LocalHashCache,
  source: Walk,
  target: Walk,
  options: SyncOptions & { compare: SyncCompare },
  localDir: string,
  remoteDir: string,
): Promise<SyncPlan> {
  const there = new Map(target.entries.map((e) => [e.path, e]));
  // a path the source skipped (a link, a socket) is not "gone": its target copy is never deleted
  const here = new Set([...source.entries.map((e) => e.path), ...source.skipped.map((e) => e.path)]);
  const create: TreeEntry[] = [];
  const update: TreeEntry[] = [];
  const unchanged: TreeEntry[] = [];
  const folders: TreeEntry[] = [];
  const conflicts: TreeEntry[] = [];
  const toHash: Array<{ src: WalkedEntry; dst: WalkedEntry }> = [];
  for (const e of source.entries) {
    const t = there.get(e.path);
    if (!t) (e.type === 'directory' ? folders : create).push(e);
    else if (t.type !== e.type) conflicts.push(e);
    else if (e.type === 'directory') continue;
    else if (e.size !== t.size) update.push(e);
    else if (options.compare === 'sha256') toHash.push({ src: e, dst: t });
    else (e.mtime === t.mtime ? unchanged : update).push(e);
  }
  // sha256: both sides hashed, `concurrency` files at a time
  const limit = options.concurrency ?? DEFAULT_FOLDER_CONCURRENCY;
  for (let i = 0; i < toHash.length; i += limit) {
    throwIfAborted(options.signal);
    await Promise.all(
      toHash.slice(i, i + limit).map(async ({ src }) => {
        const [localSha, remoteSha] = await Promise.all([
          hashes.hash(localPath(localDir, src.path), options.signal),
          client.stat(remoteJoin(remoteDir, src.path), { sha256: true }).then((s) => s.sha256),
        ]);
        if (remoteSha === undefined) throw new FileShareError('EPROTO', 'the server did not return a SHA-256 for stat');
        (localSha === remoteSha ? unchanged : update).push(src);
      }),
    );
  }
  // extra: topmost target entries the source lacks (a folder's content goes with it)
  const extra: TreeEntry[] = [];
  for (const t of target.entries) {
    if (here.has(t.path)) continue;
    // the content of a folder in conflict stays until the conflict is resolved by hand
    if (conflicts.some((c) => t.path.startsWith(`${c.path}/`))) continue;
    if (extra.some((x) => x.type === 'directory' && t.path.startsWith(`${x.path}/`))) continue;
    extra.push(t);
  }
  const byPath = (a: TreeEntry, b: TreeEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const clean = (list: TreeEntry[]) => list.sort(byPath).map(({ path, type, size, mtime }) => ({ path, type, size, mtime }));
  return {
    direction: options.direction,
    compare: options.compare,
    create: clean(create),
    update: clean(update),
    unchanged: clean(unchanged),
    folders: clean(folders),
    extra: clean(extra),
    conflicts: clean(conflicts),
    bytes: [...create, ...update].reduce((n, e) => n + e.size, 0),
  };
}
