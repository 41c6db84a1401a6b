/** mv: rename or move a remote file or folder; never overwrites. */
import { CliError, ExitCode, hasCode } from '../errors.ts';
import { remoteBasename, resolveRemote } from '../paths.ts';
import { remoteTarget } from './transfer.ts';
import { defineCommand } from './types.ts';

export const mv = defineCommand({
  name: 'mv',
  aliases: ['rename', 'move'],
  args: '<from> <to>',
  summary: 'rename or move a remote file or folder (into <to> when it is a folder)',
  complete: ['remote'],
  async run(ctx, [fromArg, toArg], _opts) {
    const from = resolveRemote(ctx.cwd, fromArg!);
    const to = await remoteTarget(ctx, toArg!, remoteBasename(from));
    try {
      await ctx.client.rename(from, to);
    } catch (err) {
      if (hasCode(err, 'EEXIST'))
        throw new CliError(`remote path already exists: ${to} (mv never overwrites; rm it first)`, ExitCode.CONFLICT);
      throw err;
    }
    if (ctx.interactive) ctx.io.out(`${from} -> ${to}`);
  },
});
