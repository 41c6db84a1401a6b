/** get: download a file, or with -r a remote folder tree (local folders are created as needed). */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CliError, ExitCode, localError } from '../errors.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import { displayLocal, remoteBasename, resolveRemote } from '../paths.ts';
import { type TransferFlags, downloadFile, localTarget, throwIfAborted } from './transfer.ts';
import { walkRemote } from './tree.ts';
import { type CommandContext, defineCommand } from './types.ts';

export const get = defineCommand({
  name: 'get',
  aliases: ['download'],
  args: '<remote> [local]',
  summary: 'download a file (a folder with -r) into the local cwd or to [local]',
  options: [
    { flags: '-r, --recursive', description: 'download a folder with everything in it' },
    { flags: '-f, --force', description: 'overwrite existing local files' },
    { flags: '-c, --continue', description: 'resume an interrupted download: continue after the part already transferred, once both sides proved it by SHA-256 (else start over)' },
  ],
  complete: ['remote', 'local'],
  async run(ctx, [remoteArg, localArg], opts) {
    const remote = resolveRemote(ctx.cwd, remoteArg!);
    const entry = await ctx.client.stat(remote);
    const flags: TransferFlags = { overwrite: opts.force === true, resume: opts.continue === true };
    if (entry.type === 'directory') {
      if (opts.recursive !== true) throw new CliError(`${remote} is a folder (use get -r to download it with its contents)`);
      return getTree(ctx, remote, localArg, flags);
    }
    await downloadFile(ctx, remote, await localTarget(localArg, entry.name), flags);
  },
});

async function getTree(ctx: CommandContext, remote: string, localArg: string | undefined, flags: TransferFlags): Promise<void> {
  // the remote root `/` has no name: its contents go straight into the local target
  const name = remoteBasename(remote);
  const target = name ? await localTarget(localArg, name) : path.resolve(localArg ?? '.');
  const started = performance.now();
  let files = 0;
  let folders = 1;
  let bytes = 0;
  const makeDir = async (dir: string) => {
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`local path exists and is not a folder: ${displayLocal(dir)}`, ExitCode.CONFLICT);
      throw localError(err, displayLocal(dir));
    }
  };
  await makeDir(target);
  for await (const item of walkRemote(ctx.client, remote)) {
    throwIfAborted(ctx.signal);
    const local = path.join(target, ...item.rel.split('/'));
    if (item.entry.type === 'directory') {
      await makeDir(local);
      folders++;
    } else {
      bytes += (await downloadFile(ctx, item.remote, local, flags)).bytes;
      files++;
    }
  }
  const ms = performance.now() - started;
  if (!ctx.io.quiet) {
    ctx.io.out(`downloaded ${remote} to ${displayLocal(target)}: ${files} file(s), ${folders} folder(s), ${formatBytes(bytes)} in ${formatDuration(ms)} (${formatRate(bytes, ms)})`);
  }
}
