/** lls: list a local folder, like ls does for remote ones. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Entry } from 'fileshare';
import { localError } from '../errors.ts';
import { resolveLocal } from '../paths.ts';
import { longLine, shortName } from './listing.ts';
import { defineCommand } from './types.ts';

export const lls = defineCommand({
  name: 'lls',
  args: '[path]',
  summary: 'list a local folder (default: the local cwd)',
  shellOnly: true,
  options: [{ flags: '-l, --long', description: 'type, size and modification time' }],
  complete: ['local'],
  async run(ctx, [pathArg], opts) {
    const dir = resolveLocal(pathArg ?? '.');
    const names = await readdir(dir).catch((err: unknown) => {
      throw localError(err, pathArg ?? '.');
    });
    names.sort();
    for (const name of names) {
      // stat follows links, so a link to a folder is listed as a folder; broken links as empty files
      const info = await stat(path.join(dir, name)).catch(() => undefined);
      const entry: Entry = { name, type: info?.isDirectory() ? 'directory' : 'file', size: info?.size ?? 0, mtime: info?.mtimeMs ?? 0 };
      ctx.io.out(opts.long === true ? longLine(entry, ctx.io.color) : shortName(entry, ctx.io.color));
    }
  },
});
