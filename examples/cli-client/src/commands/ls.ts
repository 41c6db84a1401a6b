/** ls: list a remote folder, one entry per line (scripts), `-l` for details, `--json` for machines. */
import type { Entry } from 'fileshare';
import { hasCode } from '../errors.ts';
import { resolveRemote } from '../paths.ts';
import { entryJson, longLine, shortName } from './listing.ts';
import { defineCommand } from './types.ts';

export const ls = defineCommand({
  name: 'ls',
  aliases: ['dir'],
  args: '[path]',
  summary: 'list a remote folder (default: the remote cwd)',
  options: [
    { flags: '-l, --long', description: 'type, size and modification time' },
    { flags: '--json', description: 'a JSON array of entries' },
  ],
  complete: ['remote'],
  async run(ctx, [pathArg], opts) {
    const target = resolveRemote(ctx.cwd, pathArg ?? '.');
    let entries: Entry[];
    try {
      entries = await ctx.client.list(target);
    } catch (err) {
      // `ls file` shows the file, as ls(1) does
      if (!hasCode(err, 'ENOTDIR')) throw err;
      entries = [await ctx.client.stat(target)];
    }
    if (opts.json === true) return ctx.io.out(JSON.stringify(entries.map((e) => entryJson(e))));
    const { color } = ctx.io;
    for (const entry of entries) ctx.io.out(opts.long === true ? longLine(entry, color) : shortName(entry, color));
  },
});
