/** rmdir: remove remote folders. */
import { CliError, ExitCode, hasCode } from '../errors.ts';
import { resolveRemote } from '../paths.ts';
import { defineCommand } from './types.ts';

export const rmdir = defineCommand({
  name: 'rmdir',
  args: '<path...>',
  summary: 'remove empty remote folders (-r: with their contents)',
  options: [{ flags: '-r, --recursive', description: 'remove the folder and everything in it' }],
  complete: ['remote-dir'],
  async run(ctx, paths, opts) {
    for (const p of paths) {
      const remote = resolveRemote(ctx.cwd, p);
      try {
        await ctx.client.rmdir(remote, { recursive: opts.recursive === true });
      } catch (err) {
        if (hasCode(err, 'ENOTEMPTY'))
          throw new CliError(`remote folder not empty: ${remote} (use rmdir -r to remove it with its contents)`, ExitCode.CONFLICT);
        throw err;
      }
      if (ctx.interactive) ctx.io.out(`removed ${remote}/`);
    }
  },
});
