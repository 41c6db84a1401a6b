/**
 * Walking the two sides of a folder transfer: the local tree (lstat, symbolic links skipped or
 * followed only inside the tree) and the remote tree (through `list`). Both yield entries named by
 * relative POSIX paths, parents before children, with the selection options applied.
 * @internal
 * @module
 */
import { lstatSync, promises as fsp, readdirSync, realpathSync, type Stats } from 'node:fs';
import path from 'node:path';
import { FileShareError, toFileShareError } from '../errors.ts';
import type { Entry } from '../storage/types.ts';
import { throwIfAborted } from './abort.ts';
import type { FolderClient, FolderOptions, SkipReason, TreeEntry } from './folder-types.ts';
import { globMatcher } from './glob.ts';

/** An entry of a walked tree; `local` is its local path (through links, if followed). @internal */
export interface WalkedEntry extends TreeEntry {
  readonly local?: string;
}

/** A walked tree. @internal */
export interface Walk {
  /** Folders and files kept, parents first. */
  readonly entries: WalkedEntry[];
  /** What was left out, and why. */
  readonly skipped: Array<{ path: string; reason: SkipReason }>;
}

/** The selection options as one predicate pair. @internal */
export interface Selection {
  /** Keep (and, for a folder, descend into) this entry? */
  keep(entry: TreeEntry): boolean;
}

/** Compile `include`, `exclude` and `filter`. @internal */
export function selection(options: FolderOptions): Selection {
  // as in rsync and .gitignore, a pattern without a slash matches a name at any depth
  const include = options.include === undefined ? undefined : globMatcher(options.include, { dot: true, matchBase: true });
  const exclude = options.exclude === undefined ? undefined : globMatcher(options.exclude, { dot: true, matchBase: true });
  const filter = options.filter;
  return {
    keep(entry) {
      if (exclude?.(entry.path)) return false;
      if (include && entry.type === 'file' && !include(entry.path)) return false;
      return filter ? filter(entry) === true : true;
    },
  };
}

/**
 * Default number of files moving at once in a folder transfer, and of folders listed or created at
 * once. Half the server's default `maxRequestsInFlight` (64), leaving room for the caller's other
 * requests on the connection; in profiles of the bench's tree (bench/README.md) 32 in flight cost
 * both sides about a third less CPU per file than 8 (more of the per-file work shares each
 * socket write and each wake-up) and moved the files faster.
 * @internal
 */
export const DEFAULT_FOLDER_CONCURRENCY = 32;

/**
 * The default concurrency against a server that lets a connection have `serverLimit` requests open
 * at once (0: it did not say): half of that limit, at most {@link DEFAULT_FOLDER_CONCURRENCY}, so a
 * server configured with a low `maxRequestsInFlight` never answers the defaults with `EBUSY`.
 * @internal
 */
export function defaultFolderConcurrency(serverLimit: number): number {
  return serverLimit > 0 ? Math.max(1, Math.min(DEFAULT_FOLDER_CONCURRENCY, Math.floor(serverLimit / 2))) : DEFAULT_FOLDER_CONCURRENCY;
}

/** Entries looked at synchronously between two turns of the event loop. */
const LOOKUPS_PER_TURN = 256;

/**
 * `lstat` of a walked entry, or undefined when it is gone. Synchronous: the kernel answers from the
 * dentry and inode caches (the folder was just read), and an asynchronous lstat costs a thread-pool
 * round trip, two thread hand-offs per entry, which profiles of a 1,000-file tree showed as most of
 * the walk's time (bench/README.md).
 */
function lookUp(file: string): Stats | undefined {
  try {
    return lstatSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * Folders whose size, as the file system reports it, is at most this many bytes are listed
 * synchronously. A folder's size grows with its entries on the common file systems (ext4: a 4 KiB
 * block per 100-200 names; tmpfs and btrfs: tens of bytes per name), so this bounds a synchronous
 * listing to a few thousand names, well under a millisecond; larger folders are listed on the
 * thread pool. In a tree of many small folders, the pool round trips per folder (listing, real
 * path) took as long as the lookups of all its files.
 */
const SYNC_LISTING_BYTES = 64 * 1024;

/** The names in folder `abs`, whose reported size is `size` (see {@link SYNC_LISTING_BYTES}). */
async function listNames(abs: string, size: number): Promise<string[]> {
  return size <= SYNC_LISTING_BYTES ? readdirSync(abs) : fsp.readdir(abs);
}

/** Let the event loop run (I/O callbacks, timers) in a walk of a large tree. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Join a relative tree path onto a remote folder. @internal */
export function remoteJoin(dir: string, rel: string): string {
  const base = dir.replace(/\/+$/, '');
  return rel === '' ? base || '/' : `${base}/${rel}`;
}

/**
 * Walk a local folder. Symbolic links are skipped unless `followSymlinks`; then a link is followed
 * only when its real target is inside the real top folder, and a folder already on the current path
 * (a loop) is not entered twice.
 * @throws ENOENT / ENOTDIR when `dir` is not a folder
 */
export async function walkLocal(dir: string, options: FolderOptions, pick: Selection): Promise<Walk> {
  let rootReal: string;
  let rootSize: number;
  try {
    rootReal = await fsp.realpath(dir);
    const rootInfo = await fsp.stat(rootReal);
    if (!rootInfo.isDirectory()) throw new FileShareError('ENOTDIR', `${dir} is not a folder`);
    rootSize = rootInfo.size;
  } catch (err) {
    const e = toFileShareError(err);
    throw e.code === 'ENOENT' ? new FileShareError('ENOENT', `local folder not found: ${dir}`, { cause: err }) : e;
  }
  const entries: WalkedEntry[] = [];
  const skipped: Walk['skipped'] = [];
  let lookups = 0;
  const visit = async (abs: string, rel: string, ancestors: Set<string>, size: number): Promise<void> => {
    throwIfAborted(options.signal);
    const names = (await listNames(abs, size)).sort();
    for (const name of names) {
      const childAbs = path.join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      if (++lookups % LOOKUPS_PER_TURN === 0) {
        await yieldTurn();
        throwIfAborted(options.signal);
      }
      let info = lookUp(childAbs);
      if (!info) continue; // removed meanwhile
      let real = childAbs;
      if (info.isSymbolicLink()) {
        if (!options.followSymlinks) {
          skipped.push({ path: childRel, reason: 'symlink' });
          continue;
        }
        const target = await fsp.realpath(childAbs).catch(() => undefined);
        if (!target || !inside(rootReal, target) || ancestors.has(target)) {
          skipped.push({ path: childRel, reason: 'symlink' });
          continue;
        }
        real = target;
        info = await fsp.stat(target);
      }
      if (!info.isFile() && !info.isDirectory()) {
        skipped.push({ path: childRel, reason: 'special' });
        continue;
      }
      const entry: WalkedEntry = {
        path: childRel,
        type: info.isDirectory() ? 'directory' : 'file',
        size: info.isDirectory() ? 0 : info.size,
        mtime: Math.floor(info.mtimeMs),
        local: childAbs,
      };
      if (!pick.keep(entry)) {
        skipped.push({ path: childRel, reason: 'filtered' });
        continue;
      }
      entries.push(entry);
      if (entry.type === 'directory') {
        // synchronous, as the lookups: glibc's realpath reads each component's link, from the caches
        const realDir = real === childAbs ? realpathSync.native(childAbs) : real;
        await visit(childAbs, childRel, new Set(ancestors).add(realDir), info.size);
      }
    }
  };
  await visit(rootReal, '', new Set([rootReal]), rootSize);
  return { entries, skipped };
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** A remote name that is safe as a local path component (a hostile server could send `..`). */
function checkRemoteName(name: string): void {
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0') ||
    (path.sep === '\\' && /[\\:]/.test(name))
  ) {
    throw new FileShareError('EPROTO', `the server listed an unusable name: ${JSON.stringify(name)}`);
  }
}

/**
 * Walk a remote folder through `list`, folders listed `concurrency` at a time.
 * @throws ENOENT when `dir` does not exist, ENOTDIR when it is a file
 */
export async function walkRemote(client: FolderClient, dir: string, options: FolderOptions, pick: Selection): Promise<Walk> {
  const top = await client.stat(dir);
  if (top.type !== 'directory') throw new FileShareError('ENOTDIR', `${dir} is not a folder`);
  const entries: WalkedEntry[] = [];
  const skipped: Walk['skipped'] = [];
  let level = [''];
  while (level.length > 0) {
    throwIfAborted(options.signal);
    const listings: Array<{ rel: string; list: Entry[] }> = [];
    const batch = Math.max(1, options.concurrency ?? DEFAULT_FOLDER_CONCURRENCY); // within the server's requests-in-flight limit
    for (let i = 0; i < level.length; i += batch) {
      listings.push(
        ...(await Promise.all(level.slice(i, i + batch).map(async (rel) => ({ rel, list: await client.list(remoteJoin(dir, rel)) })))),
      );
    }
    const next: string[] = [];
    for (const { rel, list } of listings) {
      for (const e of list) {
        checkRemoteName(e.name);
        const entry: WalkedEntry = { path: rel ? `${rel}/${e.name}` : e.name, type: e.type, size: e.size, mtime: Math.floor(e.mtime) };
        if (!pick.keep(entry)) {
          skipped.push({ path: entry.path, reason: 'filtered' });
          continue;
        }
        entries.push(entry);
        if (entry.type === 'directory') next.push(entry.path);
      }
    }
    level = next;
  }
  // parents first, then by path: the order the local walk has
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, skipped };
}
