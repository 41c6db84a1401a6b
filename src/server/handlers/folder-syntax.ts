import { FileShareError } from '../../errors.ts';
import type { Storage } from '../../storage/types.ts';
import type { RequestContext } from '../request-context.ts';

/**
 * A path written with a trailing slash (`file.txt/`) names a folder, as in POSIX: where it leads to a
 * file, the answer is `ENOTDIR` (before, the slash was dropped by normalisation and the file was
 * served, deleted or replaced). `missing` is the answer when nothing is there: `ENOENT` for
 * operations on an existing entry (let the storage say it), `EISDIR` for an upload, which cannot
 * create a folder. A folder there is left to the operation itself (which answers `EISDIR` when it
 * needs a file).
 * @internal
 */
export async function checkFolderSyntax(
  request: RequestContext,
  key: string,
  path: string,
  missing: 'ENOENT' | 'EISDIR' = 'ENOENT',
): Promise<void> {
  if (request.namesFolder(key)) await checkNamedFolder(request.storage, path, missing);
}

/**
 * The check of {@link checkFolderSyntax} for a path already known to end in `/` (an item of a
 * batch, whose paths are not request arguments of their own).
 * @internal
 */
export async function checkNamedFolder(storage: Storage, path: string, missing: 'ENOENT' | 'EISDIR'): Promise<void> {
  let type: string;
  try {
    type = (await storage.stat(path)).type;
  } catch (err) {
    if ((err as FileShareError).code === 'ENOENT' && missing === 'EISDIR')
      throw new FileShareError('EISDIR', `a path ending in / names a folder: ${path}/`);
    if ((err as FileShareError).code === 'ENOENT') return; // the operation itself answers ENOENT
    throw err;
  }
  if (type === 'file') throw new FileShareError('ENOTDIR', `not a folder: ${path}/`);
}
