/**
 * Upload leftovers of the local-folder backend: the registry of uploads in progress, resumable
 * uploads (their kept partial files), and the sweeper that removes expired leftovers.
 * @internal
 * @module
 */
import { constants, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { FileShareError } from '../errors.ts';
import { errnoCode, fsError, isMissing, storageError } from './fs-errors.ts';
import { createInside, isOwnFile, openInside } from './safe-open.ts';
import { LocalUpload, unlinkQuietly } from './local-upload.ts';
import { isResumableTempName, isTempName, RESUME_KEY_PATTERN, resumableTempName } from './temp-names.ts';
import type { ResumeOptions, SweepOptions, UploadTarget } from './types.ts';

/**
 * Temporary files of uploads in progress in this process, resumable or not: one attempt per
 * resumable file at a time, and the sweeper never touches them (before, a plain upload whose temp
 * file was quiet for `abandonedTtlMs` lost it mid-transfer and failed with ENOENT).
 */
export const ACTIVE_UPLOADS = new Set<string>();

/** What {@link openResumable} needs; paths are real, absolute paths inside the storage root. */
export interface ResumableInit {
  /** The storage root's real path. */
  readonly root: string;
  readonly remote: string;
  readonly target: string;
  /** The target's folder, where the partial file lives. */
  readonly dir: string;
  readonly overwrite: boolean;
  readonly size: number | undefined;
  readonly resume: ResumeOptions;
  readonly fsync: boolean;
  /** Modification time to set on commit (ms since the epoch). */
  readonly mtime?: number | undefined;
  /** Fails with ENOSPC when the disk lacks `bytes` of free space. */
  readonly checkSpace: (bytes: number) => Promise<void>;
}

/**
 * A resumable upload keeps its data in `.fileshare-part-r-<key>` beside the target, so that an
 * interrupted attempt (dropped connection, server crash) can be continued. Whatever the file holds
 * beyond the announced size is cut off; the caller verifies the kept prefix by hash before use.
 * One attempt per file at a time in this process: another while one is open gets `EBUSY` (the
 * server takes over from an older attempt itself, before it opens the newer one).
 */
export async function openResumable(init: ResumableInit): Promise<UploadTarget> {
  const { root, remote, target, dir, overwrite, size, resume, fsync, checkSpace } = init;
  if (!RESUME_KEY_PATTERN.test(resume.key)) throw storageError('EINVAL', remote, 'invalid resume key');
  const temp = path.join(dir, resumableTempName(resume.key));
  if (ACTIVE_UPLOADS.has(temp)) throw storageError('EBUSY', remote, 'this upload is already in progress on another connection');
  ACTIVE_UPLOADS.add(temp);
  const release = () => ACTIVE_UPLOADS.delete(temp);
  let handle: FileHandle | undefined;
  let created = false;
  try {
    let info: Stats | undefined;
    if (resume.restart) {
      await removeEntry(temp, remote); // never opened: whatever is there (a planted link too) is thrown away
    } else {
      ({ handle, info } = await openKept(root, temp, remote));
    }
    if (!handle) {
      // refused before anything exists: a refusal leaves no empty partial file behind
      if (size !== undefined) await checkSpace(size);
      handle = await createInside(root, temp, remote).catch((err: unknown) => {
        throw fsError(err, remote);
      });
      created = true;
      info = await handle.stat();
    }
    const offset = Math.min(info!.size, size ?? info!.size);
    if (info!.size > offset) await handle.truncate(offset);
    if (size !== undefined && !created) {
      try {
        await checkSpace(size - offset);
      } catch (err) {
        await handle.close();
        handle = undefined;
        if (offset === 0) await unlinkQuietly(temp).catch(() => {}); // nothing worth keeping
        throw err; // the kept bytes stay, for a resume once there is room
      }
    }
    return new LocalUpload({
      handle,
      root,
      identity: info!,
      temp,
      target,
      remote,
      overwrite,
      fsync,
      offset,
      resumable: true,
      onSettled: release,
      mtime: init.mtime,
    });
  } catch (err) {
    if (handle) {
      await handle.close().catch(() => {});
      if (created) await unlinkQuietly(temp).catch(() => {});
    }
    release();
    throw fsError(err, remote);
  }
}

/**
 * Open the partial file an earlier attempt kept, if there is one that can be trusted: a regular
 * file with a single link, under the root, opened without following a link. Anything else under
 * that internal name (a link, a hard link to a file elsewhere, a folder, a FIFO) was not written
 * by this backend: it is removed (a link itself, never what it leads to) and the upload starts over.
 */
async function openKept(root: string, temp: string, remote: string): Promise<{ handle?: FileHandle; info?: Stats }> {
  let handle: FileHandle;
  try {
    handle = await openInside(root, temp, constants.O_RDWR, remote);
  } catch (err) {
    if (isMissing(err)) return {};
    if ((err as FileShareError).code !== 'EACCES' && errnoCode(err) !== 'EISDIR' && errnoCode(err) !== 'ENXIO') throw fsError(err, remote);
    await removeEntry(temp, remote);
    return {};
  }
  const info = await handle.stat().catch(async (err: unknown) => {
    await handle.close().catch(() => {});
    throw fsError(err, remote);
  });
  if (isOwnFile(info)) return { handle, info };
  await handle.close();
  await removeEntry(temp, remote);
  return {};
}

/** Remove whatever is under an internal name, not following a link; a folder there is EACCES. */
async function removeEntry(temp: string, remote: string): Promise<void> {
  try {
    await unlinkQuietly(temp);
  } catch (err) {
    throw storageError('EACCES', remote, 'its partial file cannot be replaced', err);
  }
}

/**
 * Remove upload leftovers under the root: partial files of resumable uploads untouched for
 * `resumableTtlMs`, and other temporary files (which a crash left behind: they can never
 * complete) untouched for `abandonedTtlMs`. Files of uploads in progress in this process are
 * never touched. Resolves to the number of files removed. `root` is a real path.
 */
export async function sweepLeftovers(root: string, options: SweepOptions): Promise<number> {
  const now = Date.now();
  let removed = 0;
  const walk = async (dir: string): Promise<void> => {
    let dirents;
    try {
      dirents = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return; // vanished or unreadable: nothing to sweep there
    }
    for (const d of dirents) {
      const abs = path.join(dir, d.name);
      if (d.isDirectory()) {
        await walk(abs);
      } else if (d.isFile() && isTempName(d.name) && !ACTIVE_UPLOADS.has(abs)) {
        const ttl = isResumableTempName(d.name) ? options.resumableTtlMs : options.abandonedTtlMs;
        try {
          const { mtimeMs } = await fsp.lstat(abs);
          // checked again after the await: an upload may have claimed the file meanwhile
          if (now - mtimeMs >= ttl && !ACTIVE_UPLOADS.has(abs)) {
            await unlinkQuietly(abs);
            removed++;
          }
        } catch {
          /* raced with its owner: fine */
        }
      }
    }
  };
  await walk(root);
  return removed;
}
