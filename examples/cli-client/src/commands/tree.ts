/** Depth-first walks of a local and a remote folder, parents before children (for recursive put/get). */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Entry, FileShareClient } from 'fileshare';
import { localError } from '../errors.ts';

export interface LocalItem {
  /** Path relative to the walked folder, with `/` separators (ready for the remote side). */
  readonly rel: string;
  readonly abs: string;
  readonly type: 'file' | 'directory';
  readonly size: number;
}

/**
 * Every file and folder under `root`. Symbolic links to files are followed; links to folders are
 * skipped (reported through `onSkip`) so a link cycle cannot make the walk endless.
 */
export async function* walkLocal(root: string, onSkip: (abs: string, why: string) => void, rel = ''): AsyncGenerator<LocalItem> {
  const dir = rel ? path.join(root, ...rel.split('/')) : root;
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
    throw localError(err, dir);
  });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const childRel = rel ? `${rel}/${entry.name}` : entry.name;
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      yield { rel: childRel, abs, type: 'directory', size: 0 };
      yield* walkLocal(root, onSkip, childRel);
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      const info = await stat(abs).catch(() => undefined);
      if (!info) onSkip(abs, 'broken symbolic link');
      else if (info.isDirectory()) onSkip(abs, 'symbolic link to a folder');
      else if (info.isFile()) yield { rel: childRel, abs, type: 'file', size: info.size };
    } else {
      onSkip(abs, 'not a regular file');
    }
  }
}

export interface RemoteItem {
  readonly rel: string;
  readonly remote: string;
  readonly entry: Entry;
}

/** Every file and folder under the remote folder `root`. */
export async function* walkRemote(client: FileShareClient, root: string, rel = ''): AsyncGenerator<RemoteItem> {
  const dir = rel ? path.posix.join(root, rel) : root;
  for (const entry of await client.list(dir)) {
    const childRel = rel ? `${rel}/${entry.name}` : entry.name;
    yield { rel: childRel, remote: path.posix.join(root, childRel), entry };
    if (entry.type === 'directory') yield* walkRemote(client, root, childRel);
  }
}
