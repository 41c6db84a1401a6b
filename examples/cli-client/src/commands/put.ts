/**
 * put / mput: upload files (globs expand locally), or with -r whole folders through the library's
 * `uploadDir` (files in parallel over the one connection, one aggregate progress bar).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CliError, ExitCode, localError } from '../errors.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import { expandLocal } from '../local-glob.ts';
import { hasGlob } from 'fileshare';
import { displayLocal, resolveLocal, resolveRemote } from '../paths.ts';
import { folderFeedback } from '../progress.ts';
import { type TransferFlags, jobsOption, remoteStat, remoteTarget, reportSkipped, throwIfAborted, uploadFile } from './transfer.ts';
import { type CommandContext, type OptionSpec, defineCommand } from './types.ts';

/** Options shared by put and mput. */
const PUT_OPTIONS: readonly OptionSpec[] = [
  { flags: '-r, --recursive', description: 'upload folders with everything in them' },
  { flags: '-f, --force', description: 'overwrite existing remote files' },
  {
    flags: '-c, --continue',
    description:
      'resume an interrupted upload (put always keeps an interrupted upload resumable; the kept part is proved by SHA-256 on both sides, else it starts over)',
  },
  { flags: '-p, --preserve', description: 'give the remote files the local modification times (always done by -r)' },
  { flags: '-v, --verbose', description: 'with -r: one line per file' },
  jobsOption,
];

export const put = defineCommand({
  name: 'put',
  aliases: ['upload'],
  args: '<local> [remote]',
  summary: 'upload a file (a folder with -r; a glob for several) into the remote cwd or to [remote]',
  options: PUT_OPTIONS,
  complete: ['local', 'remote'],
  async run(ctx, [local, remoteArg], opts) {
    if (!hasGlob(local!)) return putOne(ctx, resolveLocal(local!), remoteArg, flagsOf(opts), opts);
    const sources = await expandLocal(local!);
    // several files: [remote] must be a folder
    const into = remoteArg === undefined ? ctx.cwd : resolveRemote(ctx.cwd, remoteArg);
    if ((await remoteStat(ctx.client, into))?.type !== 'directory')
      throw new CliError(`${into} is not a remote folder (several files need one)`, ExitCode.NOT_FOUND);
    for (const source of sources) await putOne(ctx, source, `${into.replace(/\/$/, '')}/`, flagsOf(opts), opts);
  },
});

export const mput = defineCommand({
  name: 'mput',
  args: '<local...>',
  summary: 'upload several files or globs (folders with -r) into the remote cwd',
  options: PUT_OPTIONS,
  complete: ['local'],
  async run(ctx, patterns, opts) {
    const sources: string[] = [];
    for (const p of patterns) sources.push(...(await expandLocal(p)));
    for (const source of sources) await putOne(ctx, source, undefined, flagsOf(opts), opts);
  },
});

function flagsOf(opts: Record<string, unknown>): TransferFlags {
  return { overwrite: opts.force === true, resume: true, preserveMtime: opts.preserve === true };
}

async function putOne(
  ctx: CommandContext,
  source: string,
  remoteArg: string | undefined,
  flags: TransferFlags,
  opts: Record<string, unknown>,
): Promise<void> {
  throwIfAborted(ctx.signal);
  const info = await stat(source).catch((err: unknown) => {
    throw localError(err, displayLocal(source));
  });
  const target = await remoteTarget(ctx, remoteArg, path.basename(source));
  if (info.isDirectory()) {
    if (opts.recursive !== true) throw new CliError(`${displayLocal(source)} is a folder (use put -r to upload it with its contents)`);
    return putTree(ctx, source, target, flags, opts);
  }
  if (!info.isFile()) throw new CliError(`${displayLocal(source)} is not a regular file`);
  await uploadFile(ctx, source, target, flags);
}

async function putTree(
  ctx: CommandContext,
  source: string,
  target: string,
  flags: TransferFlags,
  opts: Record<string, unknown>,
): Promise<void> {
  const feedback = folderFeedback(ctx.io, 'upload', target, opts.verbose === true);
  let result;
  try {
    result = await ctx.client.uploadDir(source, target, {
      overwrite: flags.overwrite,
      resume: true,
      ...(opts.jobs !== undefined ? { concurrency: opts.jobs as number } : {}),
      signal: ctx.signal,
      onProgress: feedback.onProgress,
      onFile: feedback.onFile,
    });
  } finally {
    feedback.stop();
  }
  reportSkipped(ctx, 'put', result.skipped);
  if (!ctx.io.quiet) {
    ctx.io.out(
      `uploaded ${displayLocal(source)} to ${target}: ${result.transferred.length} file(s), ${result.foldersCreated} folder(s) created, ${formatBytes(result.bytes)} in ${formatDuration(result.ms)} (${formatRate(result.bytes, result.ms)})`,
    );
  }
}
