/**
 * sync: make the remote folder match a local one (or, with --down, the reverse), moving only what
 * differs, through the library's `client.sync`. --dry-run prints the plan and changes nothing.
 */
import path from 'node:path';
import type { SyncPlan, SyncResult } from 'fileshare';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import { displayLocal, resolveLocal, resolveRemote } from '../paths.ts';
import { folderFeedback } from '../progress.ts';
import { jobsOption, reportSkipped } from './transfer.ts';
import { type CommandContext, defineCommand } from './types.ts';

export const sync = defineCommand({
  name: 'sync',
  args: '<local> [remote]',
  summary: 'make [remote] (default: the remote cwd) match <local>; --down: the reverse. Only differences move',
  options: [
    { flags: '--down', description: 'make <local> match [remote] instead' },
    { flags: '--delete', description: 'also remove what the source side no longer has' },
    { flags: '-n, --dry-run', description: 'print the plan, change nothing' },
    { flags: '--checksum', description: 'compare by SHA-256 (the server hashes its side) instead of size and mtime' },
    { flags: '-v, --verbose', description: 'one line per file' },
    jobsOption,
  ],
  complete: ['local-dir', 'remote-dir'],
  async run(ctx, [localArg, remoteArg], opts) {
    const local = resolveLocal(localArg!);
    const remote = remoteArg === undefined ? ctx.cwd : resolveRemote(ctx.cwd, remoteArg);
    const down = opts.down === true;
    const feedback = folderFeedback(ctx.io, down ? 'download' : 'upload', down ? displayLocal(local) : remote, opts.verbose === true);
    let result: SyncResult;
    try {
      result = await ctx.client.sync(local, remote, {
        direction: down ? 'down' : 'up',
        delete: opts.delete === true,
        dryRun: opts.dryRun === true,
        compare: opts.checksum === true ? 'sha256' : 'size-mtime',
        ...(opts.jobs !== undefined ? { concurrency: opts.jobs as number } : {}),
        signal: ctx.signal,
        onProgress: feedback.onProgress,
        onFile: feedback.onFile,
      });
    } finally {
      feedback.stop();
    }
    if (result.dryRun) return printPlan(ctx, result.plan, opts.delete === true, opts.verbose === true);
    reportSkipped(ctx, 'sync', result.skipped);
    if (!ctx.io.quiet) {
      const [from, to] = down ? [remote, displayLocal(local)] : [displayLocal(local), remote];
      ctx.io.out(
        `synced ${from} to ${to}: ${result.plan.create.length} new, ${result.plan.update.length} changed, ${result.plan.unchanged.length} unchanged, ${result.deleted.length} deleted; ${formatBytes(result.bytes)} in ${formatDuration(result.ms)} (${formatRate(result.bytes, result.ms)})`,
      );
    }
  },
});

/** `+ new`, `~ changed`, `- deleted` (with --delete), `= unchanged` (with -v), `! conflict`. */
function printPlan(ctx: CommandContext, plan: SyncPlan, deleting: boolean, verbose: boolean): void {
  const out = (mark: string, p: string) => ctx.io.out(`${mark} ${p.split('/').join(path.posix.sep)}`);
  for (const e of plan.folders) out('+', `${e.path}/`);
  for (const e of plan.create) out('+', e.path);
  for (const e of plan.update) out('~', e.path);
  for (const e of plan.conflicts) out('!', e.path);
  if (deleting) for (const e of plan.extra) out('-', e.type === 'directory' ? `${e.path}/` : e.path);
  if (verbose) for (const e of plan.unchanged) out('=', e.path);
  ctx.io.out(
    `dry run: ${plan.create.length} new, ${plan.update.length} changed, ${plan.unchanged.length} unchanged, ${deleting ? plan.extra.length : 0} to delete, ${plan.conflicts.length} conflict(s); ${formatBytes(plan.bytes)} to transfer`,
  );
}
