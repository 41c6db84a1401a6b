/** rm: delete remote files (and folders with -r). */
import { CliError, hasCode } from '../errors.ts';
import { resolveRemote } from '../paths.ts';
import { defineCommand } from './types.ts';

export const rm = defineCommand({
  name: 'rm',
  aliases: ['delete', 'del'],
  args: '<path...>',
  summary: 'delete remote files (-r: folders too, with their contents)',
  options: [{ flags: '-r, --recursive', description: 'also remove folders and everything in them' }],
  complete: ['remote'],
  async run(ctx, paths, opts) {
    for (const p of paths) {
      const remote = resolveRemote(ctx.cwd, p);
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
