/**
 * Small files: `smallFiles` random files of 4 KiB uploaded, then downloaded, one at a time and then
 * with as many in flight as the API allows (a multiplexed client: its request limit on one
 * connection; a one-transfer-per-connection client: `smallConnections` connections). Files per
 * second, per direction. Every copy on both sides is checked by SHA-256 afterwards.
 *
 * Every system first moves the same files one at a time in the processes just started (the
 * "fresh processes" rows, no target), then up to two untimed passes on connections of their own
 * warm it up ({@link WARM_UP}), then the measured passes follow in the same processes. A server
 * is a long-running process, and a JavaScript one (fileshare's, ftp-srv) runs its per-file code
 * unoptimised until V8 has seen it often enough: in a fresh process that warm-up, not the code's
 * steady cost, decides the first thousand files (bench/README.md, "fourteenth"). Every system
 * gets the same passes, so the ratios stay like for like; the fresh rows keep what a program that
 * starts, moves a thousand files and exits would see.
 */
import path from 'node:path';
import { makeSmallFiles, removeFiles, verifyCopy } from '../files.ts';
import type { TestFile } from '../files.ts';
import type { SmallResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import type { SystemDef } from '../systems.ts';
import { WARM_UP, WARM_UP_SUFFIXES, withServer } from './context.ts';
import type { BenchContext, Workload } from './context.ts';

const base = { workload: 'small', unit: 'files/s', better: 'higher' } as const;
const oneAtATime = [
  { vs: 'sftp', bound: ['>=', 1.5] },
  { vs: 'pipe', bound: ['>=', 0.7] },
] as const;
export const SEQ_UP: Metric = { ...base, name: 'upload files/s, 1 at a time', target: oneAtATime };
export const SEQ_DOWN: Metric = { ...base, name: 'download files/s, 1 at a time', target: oneAtATime };
/** In flight on one connection: at least twice the bare pipe's one-at-a-time rate. */
export const PAR_UP: Metric = { ...base, name: 'upload files/s, parallel', target: [{ vs: 'pipe', of: SEQ_UP, bound: ['>=', 2] }] };
export const PAR_DOWN: Metric = { ...base, name: 'download files/s, parallel', target: [{ vs: 'pipe', of: SEQ_DOWN, bound: ['>=', 2] }] };
/** The first pass, one at a time, in the processes just started: what a fresh process sees. */
export const FRESH_UP: Metric = { ...base, name: 'upload files/s, 1 at a time, fresh processes' };
export const FRESH_DOWN: Metric = { ...base, name: 'download files/s, 1 at a time, fresh processes' };

/** Per-file allowance for the time limit: FTP's one-at-a-time small files run at ~20/s. */
const PER_FILE_MS = 100;

const remoteName = (prefix: string, i: number): string => `${prefix}${String(i).padStart(5, '0')}.bin`;

/** Check the server's and the client's copies; returns how many are bad and the first problem. */
async function verify(
  files: readonly TestFile[],
  dataDir: string,
  prefix: string,
  downloadDir: string,
): Promise<{ bad: number; first?: string }> {
  let bad = 0;
  let first: string | undefined;
  for (let i = 0; i < files.length; i++) {
    const original = files[i]!;
    for (const copy of [path.join(dataDir, remoteName(prefix, i)), path.join(downloadDir, path.basename(original.path))]) {
      const problem = await verifyCopy(copy, original);
      if (problem !== undefined) {
        bad++;
        first ??= problem;
      }
    }
  }
  return first !== undefined ? { bad, first } : { bad };
}

/**
 * One system's run. Every run writes under names and into folders of its own and nothing is
 * deleted until the workload ends (`copies` collects what to delete): ext4 steps over each inode
 * freed in the last minute whenever it creates a file (tree.ts), so a system that ran right after
 * another's cleanup, or a run that overwrote the last one's files, paid for it per file.
 */
async function runSystem(ctx: BenchContext, files: readonly TestFile[], system: SystemDef, run: number, copies: string[]): Promise<void> {
  const { smallConnections } = ctx.config;
  const modes = [
    { parallel: 1, prefix: `s${run}-fresh-`, up: FRESH_UP, down: FRESH_DOWN, warmUp: WARM_UP },
    { parallel: 1, prefix: `s${run}-seq-`, up: SEQ_UP, down: SEQ_DOWN },
    { parallel: 0, prefix: `s${run}-par-`, up: PAR_UP, down: PAR_DOWN },
  ] as const;
  const clientTimeout = 30_000 + WARM_UP.maxSeconds * 2000 + files.length * 2 * modes.length * PER_FILE_MS;
  await withServer(ctx, system, clientTimeout, async (session) => {
    const downloadDirs = modes.map((m) => path.join(ctx.tmp, 'client', system.id, m.prefix));
    copies.push(...downloadDirs.flatMap((dir) => [dir, ...WARM_UP_SUFFIXES.map((suffix) => dir + suffix)]));
    const { results } = await session.runClient(
      modes.map((m, i) => ({
        kind: 'small' as const,
        files: files.map((f) => f.path),
        remotePrefix: '/' + m.prefix,
        downloadDir: downloadDirs[i]!,
        parallel: m.parallel,
        connections: smallConnections,
        ...('warmUp' in m ? { warmUp: m.warmUp } : {}),
      })),
      clientTimeout,
    );
    for (const [i, mode] of modes.entries()) {
      const r = results[i] as SmallResult | undefined;
      if (r === undefined) throw new Error('small: missing result');
      const check = await verify(files, session.dataDir, mode.prefix, downloadDirs[i]!);
      if (r.errors > 0 || check.bad > 0) {
        ctx.recorder.error(
          'small',
          system.id,
          `${mode.up.name.replace('upload ', '')}: ${r.errors} failed, ${check.bad} bad copies (${r.firstError ?? check.first ?? ''})`,
        );
        continue;
      }
      const notes = { files: r.count, inFlight: r.inFlight, connections: r.connections };
      ctx.recorder.add(mode.up, system.id, r.count / r.uploadSeconds, notes);
      ctx.recorder.add(mode.down, system.id, r.count / r.downloadSeconds, notes);
    }
  });
}

export const small: Workload = {
  id: 'small',
  title: 'Small files (4 KiB)',
  budgetMs: (config, systems) => config.runs * systems * (60_000 + WARM_UP.maxSeconds * 2000 + config.smallFiles * 6 * PER_FILE_MS),
  async run(ctx, systems) {
    const files = await makeSmallFiles(path.join(ctx.tmp, 'small-src'), ctx.config.smallFiles, ctx.config.smallSize);
    const copies: string[] = [];
    try {
      for (let run = 1; run <= ctx.config.runs; run++) {
        for (const system of systems) {
          ctx.log(`small ${system.id} run ${run}/${ctx.config.runs}`);
          try {
            await runSystem(ctx, files, system, run, copies);
          } catch (error) {
            ctx.recorder.error('small', system.id, error);
          }
        }
      }
    } finally {
      await removeFiles(...copies);
    }
  },
};
