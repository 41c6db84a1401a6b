/** put: upload a file, or with -r a folder tree (remote folders are created as needed). */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CliError, localError } from '../errors.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import { displayLocal, remoteJoin, resolveLocal } from '../paths.ts';
import { type TransferFlags, remoteTarget, throwIfAborted, uploadFile } from './transfer.ts';
import { walkLocal } from './tree.ts';
import { type CommandContext, defineCommand } from './types.ts';

export const put = defineCommand({
  name: 'put',
  aliases: ['upload'],
  args: '<local> [remote]',
  summary: 'upload a file (a folder with -r) into the remote cwd or to [remote]',
  options: [
    { flags: '-r, --recursive', description: 'upload a folder with everything in it' },
    { flags: '-f, --force', description: 'overwrite existing remote files' },
    { flags: '-c, --continue', description: 'resume an interrupted upload: continue after the part already transferred, once both sides proved it by SHA-256 (else start over)' },
  ],
  complete: ['local', 'remote'],
  async run(ctx, [local, remoteArg], opts) {
    const source = resolveLocal(local!);
    const info = await stat(source).catch((err: unknown) => {
      throw localError(err, local!);
    });
    const flags: TransferFlags = { overwrite: opts.force === true, resume: opts.continue === true };
    if (info.isDirectory()) {
      if (opts.recursive !== true) throw new CliError(`${local} is a folder (use put -r to upload it with its contents)`);
      return putTree(ctx, source, remoteArg, flags);
    }
    if (!info.isFile()) throw new CliError(`${local} is not a regular file`);
    await uploadFile(ctx, source, await remoteTarget(ctx, remoteArg, path.basename(source)), flags);
  },
});

async function putTree(ctx: CommandContext, source: string, remoteArg: string | undefined, flags: TransferFlags): Promise<void> {
  const target = await remoteTarget(ctx, remoteArg, path.basename(source));
  const started = performance.now();
  let files = 0;
  let folders = 1;
  let bytes = 0;
  await ctx.client.mkdir(target, { recursive: true });
  const skip = (abs: string, why: string) => ctx.io.err(`put: skipped ${displayLocal(abs)}: ${why}`);
  for await (const item of walkLocal(source, skip)) {
    throwIfAborted(ctx.signal);
    const remote = remoteJoin(target, item.rel);
    if (item.type === 'directory') {
      await ctx.client.mkdir(remote, { recursive: true });
      folders++;
    } else {
      bytes += (await uploadFile(ctx, item.abs, remote, flags)).bytes;
      files++;
    }
  }
  const ms = performance.now() - started;
  if (!ctx.io.quiet) {
    ctx.io.out(`uploaded ${displayLocal(source)} to ${target}: ${files} file(s), ${folders} folder(s), ${formatBytes(bytes)} in ${formatDuration(ms)} (${formatRate(bytes, ms)})`);
  }
}
