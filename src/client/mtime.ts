import { constants, futimesSync, promises as fsp } from 'node:fs';

/**
 * Set a local file's access and modification time to `mtimeMs` through a descriptor opened without
 * following symbolic links (the file is the download's own temporary file: a link swapped in for it
 * is refused). Half a millisecond is added because utimes takes seconds as a double, which would
 * otherwise land a few hundred ns below the intended ms and read back one ms early.
 * @internal
 */
export async function setLocalMtime(file: string, mtimeMs: number): Promise<void> {
  const handle = await fsp.open(file, constants.O_WRONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const seconds = utimesSeconds(mtimeMs);
    await handle.utimes(seconds, seconds);
  } finally {
    await handle.close();
  }
}

/**
 * {@link setLocalMtime} through a descriptor this side opened and still holds (one call, no open).
 * Synchronous: it changes only the inode's times in memory, and through the thread pool it cost
 * each downloaded file one more round trip (two thread hand-offs).
 * @internal
 */
export async function setDescriptorMtime(fd: number, mtimeMs: number): Promise<void> {
  const seconds = utimesSeconds(mtimeMs);
  futimesSync(fd, seconds, seconds);
}

/** The seconds to give utimes for `mtimeMs` (see {@link setLocalMtime}). @internal */
export function utimesSeconds(mtimeMs: number): number {
  return (Math.floor(mtimeMs) + 0.5) / 1000;
}

/** A caller's mtime (ms or Date) as whole ms since the epoch. @throws TypeError @internal */
export function mtimeMsOf(value: number | Date): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
    throw new TypeError('mtime must be a Date or ms since the epoch, not before 1970');
  return Math.floor(ms);
}
