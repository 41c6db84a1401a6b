/**
 * The single place where files move: every put and get (single or recursive) goes through
 * {@link uploadFile} and {@link downloadFile}, which add the progress bar, the summary line and
 * the hints of the common failures.
 *
 * Every put and get passes the library's `resume`: an interrupted transfer (Ctrl-C, a lost
 * connection, a killed client) keeps its data, and the next put or get of the same file to the same
 * place (`-c` says so explicitly) continues after the bytes both sides verified by SHA-256, or starts
 * over when they differ.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { FileShareError, type Entry, type FileShareClient, type SkipReason, type TransferResult } from 'fileshare';
import { CliError, ExitCode, UsageError, hasCode, localError } from '../errors.ts';
import { displayLocal, meansFolder, remoteJoin, resolveRemote } from '../paths.ts';
import { transferFeedback } from '../progress.ts';
import type { CommandContext, OptionSpec } from './types.ts';

export interface TransferFlags {
  /** Replace an existing target (`-f`). */
  readonly overwrite: boolean;
  /** Keep an interrupted transfer resumable and continue one (the library's `resume`). */
  readonly resume?: boolean;
  /** Carry the modification time over (`-p`). */
  readonly preserveMtime?: boolean;
}

/** `-j, --jobs <n>`: files moving at once in a folder transfer or sync. */
export const jobsOption: OptionSpec = {
  flags: '-j, --jobs <n>',
  description: 'files moving at once with -r (default 32)',
  parse: (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError('--jobs must be an integer from 1 to 64');
    return n;
  },
};

/** Tell about entries a folder transfer left out, in one line per kind. */
export function reportSkipped(ctx: CommandContext, command: string, skipped: ReadonlyArray<{ path: string; reason: SkipReason }>): void {
  const exists = skipped.filter((s) => s.reason === 'exists').length;
  const links = skipped.filter((s) => s.reason === 'symlink');
  const special = skipped.filter((s) => s.reason === 'special');
  if (exists > 0) ctx.io.err(`${command}: skipped ${exists} existing file(s) (use -f to overwrite)`);
  for (const s of links) ctx.io.err(`${command}: skipped ${s.path}: symbolic link`);
  for (const s of special) ctx.io.err(`${command}: skipped ${s.path}: not a regular file or folder`);
}

/** Metadata of a remote path, or undefined when it does not exist. */
export async function remoteStat(client: FileShareClient, remote: string): Promise<Entry | undefined> {
  try {
    return await client.stat(remote);
  } catch (err) {
    if (hasCode(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

/**
 * Where `put` stores a file or folder named `name`: `cwd/name` without a remote argument, inside
 * the remote argument when it is an existing folder or ends in `/`, else the argument itself.
 */
export async function remoteTarget(ctx: CommandContext, arg: string | undefined, name: string): Promise<string> {
  if (arg === undefined) return resolveRemote(ctx.cwd, name);
  const resolved = resolveRemote(ctx.cwd, arg);
  if (meansFolder(arg)) return remoteJoin(resolved, name);
  return (await remoteStat(ctx.client, resolved))?.type === 'directory' ? remoteJoin(resolved, name) : resolved;
}

/** The same rule on the local side, for `get`. */
export async function localTarget(arg: string | undefined, name: string): Promise<string> {
  if (arg === undefined) return path.resolve(name);
  const resolved = path.resolve(arg);
  if (arg.endsWith('/') || arg.endsWith(path.sep)) return path.join(resolved, name);
  const info = await stat(resolved).catch(() => undefined);
  return info?.isDirectory() ? path.join(resolved, name) : resolved;
}

/** Upload one local file to `remote`, with progress and summary. */
export async function uploadFile(ctx: CommandContext, local: string, remote: string, flags: TransferFlags): Promise<TransferResult> {
  throwIfAborted(ctx.signal);
  const feedback = transferFeedback(ctx.io, 'upload', remote);
  try {
    const result = await ctx.client.upload(local, remote, {
      overwrite: flags.overwrite,
      resume: flags.resume === true,
      preserveMtime: flags.preserveMtime === true,
      signal: ctx.signal,
      onProgress: feedback.onProgress,
    });
    feedback.done(result);
    return result;
  } catch (err) {
    feedback.stop();
    if (hasCode(err, 'EEXIST')) throw new CliError(`remote file exists: ${remote} (use put -f to overwrite)`, ExitCode.CONFLICT);
    if (hasCode(err, 'EISDIR')) throw new CliError(`remote path is a folder: ${remote}`, ExitCode.CONFLICT);
    if (hasCode(err, 'ENOENT') && !err.message.startsWith('local')) {
      throw new CliError(`remote folder not found: ${path.posix.dirname(remote)} (create it with mkdir -p)`, ExitCode.NOT_FOUND);
    }
    throw err;
  }
}

/** Download `remote` to the local file `local` (refusing to replace one without -f). */
export async function downloadFile(ctx: CommandContext, remote: string, local: string, flags: TransferFlags): Promise<TransferResult> {
  throwIfAborted(ctx.signal);
  const shown = displayLocal(local);
  const existing = await stat(local).catch(() => undefined);
  if (existing?.isDirectory()) throw new CliError(`local path is a folder: ${shown}`, ExitCode.CONFLICT);
  if (existing && !flags.overwrite) throw new CliError(`local file exists: ${shown} (use get -f to overwrite)`, ExitCode.CONFLICT);
  // check the local folder first: the library would report it as a failed write, after the request
  const folder = await stat(path.dirname(local)).catch((err: unknown) => {
    throw localError(err, displayLocal(path.dirname(local)));
  });
  if (!folder.isDirectory()) throw new CliError(`local path is not a folder: ${displayLocal(path.dirname(local))}`, ExitCode.NOT_FOUND);
  const feedback = transferFeedback(ctx.io, 'download', shown);
  try {
    const result = await ctx.client.download(remote, local, {
      resume: flags.resume === true,
      preserveMtime: flags.preserveMtime === true,
      signal: ctx.signal,
      onProgress: feedback.onProgress,
    });
    feedback.done(result);
    return result;
  } catch (err) {
    feedback.stop();
    if (hasCode(err, 'EISDIR')) throw new CliError(`remote path is a folder: ${remote} (use get -r)`, ExitCode.GENERIC);
    throw err;
  }
}

/** Stop a multi-file operation between files once Ctrl-C was pressed. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new FileShareError('EABORTED', 'cancelled');
}
