/**
 * The path lookups of the local-folder backend, made synchronously.
 *
 * A file-system call through `fs.promises` goes to libuv's thread pool and back: two thread
 * hand-offs, and on a busy machine two context switches, for a call that the kernel answers from
 * its dentry and inode caches in a few microseconds. A small upload makes about ten such lookups
 * (realpath, lstat of the folder and the name, statfs, the `/proc/self/fd` check, fstat and lstat at
 * commit) and profiles of 4 KiB uploads showed the hand-offs, not the calls, taking most of the
 * server's time (bench/README.md). So these lookups run on the calling thread: they only read
 * metadata that is cached after the first use, and each one blocks the event loop for microseconds.
 * Everything that moves data or changes a folder (open, read, write, rename, link, unlink, close,
 * fsync) still goes through the thread pool, where a slow disk cannot stall the event loop.
 *
 * Each function has the shape of its `fs.promises` twin (a rejected promise carries the same
 * error with the same `code`), so a call site changes by its import only.
 * @internal
 * @module
 */
import { closeSync, fstatSync, lstatSync, openSync, readlinkSync, realpathSync, statfsSync, type Stats, type StatsFs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

function settle<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/** `lstat(2)`. @internal */
export function lstat(file: string): Promise<Stats> {
  return settle(() => lstatSync(file));
}

/**
 * `lstat(2)`, resolving to null when nothing is there: a new upload's name is usually free, and
 * a thrown ENOENT would cost an Error with its stack each time.
 * @internal
 */
export function lstatIfAny(file: string): Promise<Stats | null> {
  return settle(() => lstatSync(file, { throwIfNoEntry: false }) ?? null);
}

/**
 * `O_PATH` on Linux: the value of every architecture Node runs on there (the generic one), where
 * only alpha, parisc and sparc differ.
 */
const O_PATH =
  process.platform === 'linux' && ['x64', 'arm64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64'].includes(process.arch)
    ? 0o10000000
    : 0;

/**
 * The real path of `file` as the kernel resolved it: an `O_PATH` open (which follows every
 * symbolic link as realpath(3) does, and opens nothing: no device, FIFO or permission check on
 * the file itself) and the `/proc/self/fd` link of that descriptor. glibc's realpath(3) reads the
 * link of every component instead, each a path walk from `/` again: seven components cost it
 * seven `readlink` calls and 28 component lookups, about 18 µs here against 13 µs for these three
 * calls (bench/README.md, eighteenth). Undefined when this cannot answer (not Linux, no `/proc`,
 * a name removed meanwhile) or the path does not resolve: the caller then asks realpath(3), whose
 * errors are the ones to report.
 */
function kernelPath(file: string): string | undefined {
  if (O_PATH === 0) return undefined;
  let fd: number;
  try {
    fd = openSync(file, O_PATH);
  } catch {
    // the error is realpath(3)'s to give: the kernel refuses a path over PATH_MAX whole
    // (ENAMETOOLONG), where realpath(3) stops at its first missing component (ENOENT)
    return undefined;
  }
  try {
    const real = readlinkSync(`/proc/self/fd/${fd}`);
    return real.startsWith('/') && !real.endsWith(' (deleted)') ? real : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** `realpath(3)`, as `fs.promises.realpath` (the native one, not Node's JavaScript walk). @internal */
export function realpath(file: string): Promise<string> {
  return settle(() => kernelPath(file) ?? realpathSync.native(file));
}

/** `readlink(2)`. @internal */
export function readlink(file: string): Promise<string> {
  return settle(() => readlinkSync(file));
}

/** `fstat(2)` of an open handle, as `handle.stat()`. @internal */
export function fstat(handle: FileHandle): Promise<Stats> {
  return settle(() => fstatSync(handle.fd));
}

/** `statfs(2)`. @internal */
export function statfs(file: string): Promise<StatsFs> {
  return settle(() => statfsSync(file));
}
