/**
 * get / mget: download files (globs expand against the remote tree), or with -r whole folders
 * through the library's `downloadDir` (files in parallel over the one connection).
 */
import path from 'node:path';
import { globRemote, hasGlob } from 'fileshare';
import { CliError, ExitCode } from '../errors.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import { displayLocal, remoteBasename, resolveRemote } from '../paths.ts';
import { folderFeedback } from '../progress.ts';
import { type TransferFlags, downloadFile, jobsOption, localTarget, reportSkipped, throwIfAborted } from './transfer.ts';
import { type CommandContext, type OptionSpec, defineCommand } from './types.ts';

const GET_OPTIONS: readonly OptionSpec[] = [
  { flags: '-r, --recursive', description: 'download folders with everything in them' },
  { flags: '-f, --force', description: 'overwrite existing local files' },
  {
    flags: '-c, --continue',
    description:
      'resume an interrupted download (get always keeps an interrupted download resumable in .<name>.fileshare-partial; the kept part is proved by SHA-256, else it starts over)',
  },
  { flags: '-p, --preserve', description: 'give the local files the remote modification times (always done by -r)' },
  { flags: '-v, --verbose', description: 'with -r: one line per file' },
  jobsOption,
];

export const get = defineCommand({
  name: 'get',
  aliases: ['download'],
  args: '<remote> [local]',
  summary: 'download a file (a folder with -r; a glob for several) into the local cwd or to [local]',
  options: GET_OPTIONS,
  complete: ['remote', 'local'],
  async run(ctx, [remoteArg, localArg], opts) {
    if (!hasGlob(remoteArg!)) return getOne(ctx, resolveRemote(ctx.cwd, remoteArg!), localArg, opts);
    const matches = await expandRemote(ctx, remoteArg!);
    const into = path.resolve(localArg ?? '.');
    for (const remote of matches) await getOne(ctx, remote, `${into}${path.sep}`, opts);
  },
});

export const mget = defineCommand({
  name: 'mget',
  args: '<remote...>',
  summary: 'download several files or globs (folders with -r) into the local cwd',
  options: GET_OPTIONS,
  complete: ['remote'],
  async run(ctx, patterns, opts) {
    const remotes: string[] = [];
    for (const p of patterns) remotes.push(...(hasGlob(p) ? await expandRemote(ctx, p) : [resolveRemote(ctx.cwd, p)]));
    for (const remote of remotes) await getOne(ctx, remote, undefined, opts);
  },
});

/** The remote paths matching a glob; none is a not-found failure, as in sftp. */
export async function expandRemote(ctx: CommandContext, pattern: string): Promise<string[]> {
  const expanded = pattern === '~' ? '/' : pattern.startsWith('~/') ? pattern.slice(1) : pattern;
  const matches = await globRemote(ctx.client, expanded, ctx.cwd, { signal: ctx.signal });
  if (matches.length === 0) throw new CliError(`no remote file matches ${pattern}`, ExitCode.NOT_FOUND);
  return matches.map((m) => m.path);
}

async function getOne(ctx: CommandContext, remote: string, localArg: string | undefined, opts: Record<string, unknown>): Promise<void> {
  throwIfAborted(ctx.signal);
  const entry = await ctx.client.stat(remote);
  const flags: TransferFlags = { overwrite: opts.force === true, resume: true, preserveMtime: opts.preserve === true };
  if (entry.type === 'directory') {
    if (opts.recursive !== true) throw new CliError(`${remote} is a folder (use get -r to download it with its contents)`);
    return getTree(ctx, remote, localArg, flags, opts);
  }
  await downloadFile(ctx, remote, await localTarget(localArg, entry.name), flags);
}

async function getTree(
  ctx: CommandContext,
  remote: string,
  localArg: string | undefined,
  flags: TransferFlags,
  opts: Record<string, unknown>,
): Promise<void> {
  // the remote root `/` has no name: its contents go straight into the local target
  const name = remoteBasename(remote);
  const target = name ? await localTarget(localArg, name) : path.resolve(localArg ?? '.');
  const feedback = folderFeedback(ctx.io, 'download', displayLocal(target), opts.verbose === true);
  let result;
  try {
    result = await ctx.client.downloadDir(remote, target, {
      overwrite: flags.overwrite,
      resume: true,
      ...(opts.jobs !== undefined ? { concurrency: opts.jobs as number } : {}),
      signal: ctx.signal,
      onProgress: feedback.onProgress,
      onFile: feedback.onFile,
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOTDIR' && !(err as Error).message.includes(remote)) {
      throw new CliError(`local path exists and is not a folder: ${displayLocal(target)}`, ExitCode.CONFLICT);
    }
    throw err;
  } finally {
    feedback.stop();
  }
  reportSkipped(ctx, 'get', result.skipped);
  if (!ctx.io.quiet) {
    ctx.io.out(
      `downloaded ${remote} to ${displayLocal(target)}: ${result.transferred.length} file(s), ${result.foldersCreated} folder(s) created, ${formatBytes(result.bytes)} in ${formatDuration(result.ms)} (${formatRate(result.bytes, result.ms)})`,
    );
  }
}
