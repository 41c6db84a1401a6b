/** rm: delete remote files (and folders with -r). */
import { CliError, hasCode } from '../errors.ts';
import { resolveRemote } from '../paths.ts';
import { hasGlob } from 'fileshare';
import { expandRemote } from './get.ts';
import { defineCommand } from './types.ts';

export const rm = defineCommand({
  name: 'rm',
  aliases: ['delete', 'del'],
  args: '<path...>',
  summary: 'delete remote files or globs (-r: folders too, with their contents)',
  options: [{ flags: '-r, --recursive', description: 'also remove folders and everything in them' }],
  complete: ['remote'],
  async run(ctx, paths, opts) {
    const remotes: string[] = [];
    for (const p of paths) remotes.push(...(hasGlob(p) ? await expandRemote(ctx, p) : [resolveRemote(ctx.cwd, p)]));
    for (const remote of remotes) {
      try {
        await ctx.client.delete(remote);
      } catch (err) {
        if (!hasCode(err, 'EISDIR')) throw err;
        if (opts.recursive !== true) throw new CliError(`${remote} is a folder (use rm -r, or rmdir)`);
        await ctx.client.rmdir(remote, { recursive: true });
      }
      if (ctx.interactive) ctx.io.out(`removed ${remote}`);
    }
  },
});
