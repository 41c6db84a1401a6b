/**
 * Opening files of the local-folder backend without being led outside its root.
 *
 * Every open adds `O_NOFOLLOW`, so a symbolic link in the last component is refused (`ELOOP`)
 * rather than followed; a file this backend creates for itself is created with
 * `O_CREAT | O_EXCL | O_NOFOLLOW`, so an existing entry of that name (a link planted there) is never
 * opened. Links in the folders above are resolved by the kernel, so on Linux the descriptor's real
 * path (`/proc/self/fd/N`) is checked to lie under the root before a byte is read or written; that
 * catches a folder swapped for a link between the containment check and the open. Internal files
 * must also be regular files with one link: a hard link to a file elsewhere on the same filesystem
 * looks like a plain file by every other test.
 * @internal
 * @module
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { errnoCode, storageError } from './fs-errors.ts';
import { isInside } from './local-helpers.ts';
import { readlink } from './local-lookup.ts';

/** `O_NOFOLLOW` where the platform has it (not on Windows). @internal */
export const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** Never block opening something that is not a regular file (a FIFO planted under a name). @internal */
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/** Flags of an internal file this backend creates: never an existing entry, never through a link. @internal */
export const CREATE_EXCLUSIVE = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;

/** Identity of an opened file, to tell later whether a name still refers to it. @internal */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/**
 * Where an open descriptor really is (Linux: `/proc/self/fd/N`), or undefined where that cannot be
 * told (another platform, or no `/proc` mounted, as in some chroots).
 */
async function descriptorPath(handle: FileHandle): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    return undefined;
  }
}

/**
 * Open `file` with `flags | O_NOFOLLOW` and check that the descriptor lies under `root` (a real
 * path). The handle is closed again when it does not.
 * @throws FileShareError `EACCES` (a link, or outside the root), or the open's own error (raw)
 */
export async function openInside(root: string, file: string, flags: number, remote: string, mode?: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await fsp.open(file, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') throw storageError('EACCES', remote, 'a symbolic link was found in its place', err);
    throw err;
  }
  try {
    await checkInside(handle, root, remote);
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
  return handle;
}

/**
 * Create `file` exclusively (it must not exist, not even as a link) and check it lies under `root`.
 * Should a folder above it have been swapped for a link meanwhile, the file created outside is
 * removed again (it is new: `O_EXCL` guarantees that nobody else's file is touched).
 * @throws FileShareError `EACCES`, or the open's own error (raw: `EEXIST`, `ENOSPC`, ...)
 */
export async function createInside(root: string, file: string, remote: string, mode = 0o644): Promise<FileHandle> {
  const handle = await fsp.open(file, CREATE_EXCLUSIVE, mode);
  const real = await descriptorPath(handle);
  if (real !== undefined && !isInside(root, real)) {
    const made = await handle.stat().catch(() => undefined);
    await handle.close().catch(() => {});
    if (made) await unlinkIfSame(real, made);
    throw storageError('EACCES', remote, 'a folder on its way leads outside the shared folder');
  }
  return handle;
}

/** `EACCES` unless the descriptor lies under `root` (where the platform can tell). @internal */
export async function checkInside(handle: FileHandle, root: string, remote: string): Promise<void> {
  const real = await descriptorPath(handle);
  if (real !== undefined && !isInside(root, real)) throw storageError('EACCES', remote, 'it leads outside the shared folder');
}

/** Is this an internal file as this backend makes them: a regular file with a single link? @internal */
export function isOwnFile(stats: Stats): boolean {
  return stats.isFile() && stats.nlink === 1;
}

/**
 * Does the entry at `file` (not followed) still refer to the file `identity`? Resolves false for
 * another file or a link; a missing entry rejects with the raw `ENOENT` (or `ENOTDIR`). @internal
 */
export async function isSameFile(file: string, identity: FileIdentity): Promise<boolean> {
  const stats = await fsp.lstat(file);
  return stats.isFile() && stats.dev === identity.dev && stats.ino === identity.ino;
}

/** Remove `file` only if it is still the file `identity`; quiet. */
async function unlinkIfSame(file: string, identity: FileIdentity): Promise<void> {
  if (await isSameFile(file, identity).catch(() => false)) await fsp.unlink(file).catch(() => {});
}
