/** mkdir: create remote folders. */
import { CliError, ExitCode, hasCode } from '../errors.ts';
import { resolveRemote } from '../paths.ts';
import { defineCommand } from './types.ts';

export const mkdir = defineCommand({
  name: 'mkdir',
  args: '<path...>',
  summary: 'create remote folders (-p: with parents, no error if they exist)',
  options: [{ flags: '-p, --parents', description: 'create missing parents; an existing folder is fine' }],
  complete: ['remote-dir'],
  async run(ctx, paths, opts) {
    for (const p of paths) {
      const remote = resolveRemote(ctx.cwd, p);
      try {
        await ctx.client.mkdir(remote, { recursive: opts.parents === true });
      } catch (err) {
        if (hasCode(err, 'EEXIST')) throw new CliError(`remote path already exists: ${remote}`, ExitCode.CONFLICT);
        if (hasCode(err, 'ENOENT')) throw new CliError(`remote parent folder not found: ${remote} (use mkdir -p)`, ExitCode.NOT_FOUND);
        throw err;
      }
    }
  },
});
