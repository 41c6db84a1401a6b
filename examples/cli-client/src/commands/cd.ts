/** cd: change the remote working folder (checked on the server first). */
import { CliError, ExitCode } from '../errors.ts';
import { resolveRemote } from '../paths.ts';
import { defineCommand } from './types.ts';

export const cd = defineCommand({
  name: 'cd',
  args: '[path]',
  summary: "change the remote folder ('/' or '~' is your root, '-' the previous folder)",
  shellOnly: true,
  complete: ['remote-dir'],
  async run(ctx, [pathArg]) {
    const target = pathArg === '-' ? ctx.previousCwd : resolveRemote(ctx.cwd, pathArg ?? '/');
    const entry = await ctx.client.stat(target);
    if (entry.type !== 'directory') throw new CliError(`not a folder: ${target}`, ExitCode.NOT_FOUND);
    ctx.chdir(target);
  },
});
