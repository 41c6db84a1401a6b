/**
 * Folder trees: a tree of `smallFiles` small files (4 KiB) in nested folders plus 20 medium files
 * (1 MiB; with --quick, 20 small and 2 of 256 KiB), uploaded with each system's own folder call (fileshare
 * `uploadDir`, OpenSSH `sftp -r` put, basic-ftp `uploadFromDir`), downloaded likewise, then, where
 * there is one, a `sync` of the unchanged tree. Files per second; every copy is checked by SHA-256.
 *
 * Nothing is deleted while the workload runs, and it first waits 65 s (not with --quick), so that
 * what the workloads before it deleted is out of the way. ext4 without a journal (this project's machines) will not
 * reuse an inode freed in the last 60 s (`recently_deleted` in fs/ext4/ialloc.c; 300 s more while
 * its inode-table block is still dirty, which writeback ends within about 35 s), and it steps over
 * every such inode of a block group each time it creates a file: profiles found that taking a
 * quarter of a server's CPU per file, varying with how many files were deleted just before. So each
 * run uploads to a folder and downloads into a folder of its own (no file is overwritten, no copy
 * removed between systems) and all copies go at the end: every system creates its files where no
 * deletion of the last minute is in its way.
 *
 * As in small.ts, each system first moves the tree once in the processes just started (the "fresh
 * processes" rows, no target), up to twice more untimed ({@link WARM_UP}), and is then measured
 * moving it again, to folders of its own, in the same server and client processes: the steady
 * cost of a long-running server and of a program that has moved files before, rather than V8's
 * warm-up.
 */
import { mkdir, rename } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { makeRandomFile, makeSmallFiles, removeFiles, verifyCopy } from '../files.ts';
import type { TestFile } from '../files.ts';
import type { TreeResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import type { SystemDef } from '../systems.ts';
import { WARM_UP, WARM_UP_SUFFIXES, withServer } from './context.ts';
import type { BenchContext, Workload } from './context.ts';

const base = { workload: 'tree', unit: 'files/s', better: 'higher' } as const;
const peers = [
  { vs: 'sftp', bound: ['>=', 3] },
  { vs: 'ftp', bound: ['>=', 3] },
] as const;
export const TREE_UP: Metric = { ...base, name: 'tree upload files/s', target: peers };
export const TREE_DOWN: Metric = { ...base, name: 'tree download files/s', target: peers };
/** The first pass, in the processes just started. */
export const TREE_UP_FRESH: Metric = { ...base, name: 'tree upload files/s, fresh processes' };
export const TREE_DOWN_FRESH: Metric = { ...base, name: 'tree download files/s, fresh processes' };
/** A second sync of the unchanged tree: well under a second. */
export const TREE_SYNC: Metric = {
  workload: 'tree',
  name: 'sync of the unchanged tree s',
  unit: 's',
  better: 'lower',
  target: [{ bound: ['<=', 1] }],
};

const cpuMetric = (name: string): Metric => ({ workload: 'tree', name, unit: 'ms/file', better: 'lower' });
/**
 * CPU per file, each side (user + system of all threads, child processes and reaped children, over
 * the timed part): the figure a busy machine changes least, where files/s and their ratios swing.
 */
export const TREE_CPU_UP_CLIENT = cpuMetric('tree upload CPU ms/file, client');
export const TREE_CPU_UP_SERVER = cpuMetric('tree upload CPU ms/file, server');
export const TREE_CPU_DOWN_SERVER = cpuMetric('tree download CPU ms/file, server');
export const TREE_CPU_DOWN_CLIENT = cpuMetric('tree download CPU ms/file, client');

const FOLDERS = 10;
const PER_FILE_MS = 100;
/** How long ext4 keeps a freed, written-back inode from reuse (60 s, `RECENTCY_MIN`), plus a margin. */
const INODE_REUSE_WAIT_MS = 65_000;

interface Tree {
  readonly dir: string;
  /** Relative path → the file's expected content. */
  readonly files: ReadonlyMap<string, TestFile>;
}

/** `count` small files spread over FOLDERS folders two levels deep, plus the medium files at the top. */
async function makeTree(dir: string, count: number, smallSize: number, medium: number, mediumSize: number): Promise<Tree> {
  const files = new Map<string, TestFile>();
  const flat = await makeSmallFiles(path.join(dir, '.flat'), count, smallSize);
  for (const [i, f] of flat.entries()) {
    const rel = `d${i % FOLDERS}/e${Math.floor(i / FOLDERS) % 3}/${path.basename(f.path)}`;
    const target = path.join(dir, ...rel.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await rename(f.path, target);
    files.set(rel, { ...f, path: target });
  }
  await removeFiles(path.join(dir, '.flat'));
  for (let i = 0; i < medium; i++) {
    const rel = `medium-${String(i).padStart(2, '0')}.bin`;
    files.set(rel, await makeRandomFile(path.join(dir, rel), mediumSize));
  }
  return { dir, files };
}

async function verifyTree(tree: Tree, copyDir: string): Promise<{ bad: number; first?: string }> {
  let bad = 0;
  let first: string | undefined;
  for (const [rel, original] of tree.files) {
    const problem = await verifyCopy(path.join(copyDir, ...rel.split('/')), original);
    if (problem !== undefined) {
      bad++;
      first ??= `${rel}: ${problem}`;
    }
  }
  return first !== undefined ? { bad, first } : { bad };
}

/** One system's run: upload to `/tree-<run>`, download into a folder of its own; the copies stay (see the module's note). */
async function runSystem(ctx: BenchContext, tree: Tree, system: SystemDef, run: number, copies: string[]): Promise<void> {
  const clientTimeout = 60_000 + WARM_UP.maxSeconds * 2000 + tree.files.size * 6 * PER_FILE_MS;
  await withServer(ctx, system, clientTimeout, async (session) => {
    const passes = [`tree-${run}-fresh`, `tree-${run}`].map((remote) => ({
      remote,
      downloadDir: path.join(ctx.tmp, 'client', system.id, `${remote}-copy`),
    }));
    for (const pass of passes) {
      for (const suffix of ['', ...WARM_UP_SUFFIXES])
        copies.push(path.join(session.dataDir, pass.remote + suffix), pass.downloadDir + suffix);
    }
    await mkdir(path.join(ctx.tmp, 'client', system.id), { recursive: true }); // the copies themselves are made by the system
    const { results } = await session.runClient(
      passes.map((pass, i) => ({
        kind: 'tree',
        local: tree.dir,
        remote: `/${pass.remote}`,
        downloadDir: pass.downloadDir,
        ...(i === 0 ? { warmUp: WARM_UP } : {}),
      })),
      clientTimeout,
    );
    const [fresh, r] = results as (TreeResult | undefined)[];
    if (fresh === undefined || r === undefined) throw new Error('tree: missing result');
    for (const pass of passes) {
      const up = await verifyTree(tree, path.join(session.dataDir, pass.remote));
      const down = await verifyTree(tree, pass.downloadDir);
      if (up.bad + down.bad > 0) {
        ctx.recorder.error(
          'tree',
          system.id,
          `${pass.remote}: ${up.bad} bad copies on the server, ${down.bad} on the client (${up.first ?? down.first ?? ''})`,
        );
        return;
      }
    }
    const n = tree.files.size;
    const notes = { files: n };
    ctx.recorder.add(TREE_UP_FRESH, system.id, n / fresh.uploadSeconds, notes);
    ctx.recorder.add(TREE_DOWN_FRESH, system.id, n / fresh.downloadSeconds, notes);
    ctx.recorder.add(TREE_UP, system.id, n / r.uploadSeconds, notes);
    ctx.recorder.add(TREE_DOWN, system.id, n / r.downloadSeconds, notes);
    if (r.cpu !== undefined) {
      ctx.recorder.add(TREE_CPU_UP_CLIENT, system.id, (r.cpu.upload.client * 1000) / n, notes);
      ctx.recorder.add(TREE_CPU_UP_SERVER, system.id, (r.cpu.upload.server * 1000) / n, notes);
      ctx.recorder.add(TREE_CPU_DOWN_SERVER, system.id, (r.cpu.download.server * 1000) / n, notes);
      ctx.recorder.add(TREE_CPU_DOWN_CLIENT, system.id, (r.cpu.download.client * 1000) / n, notes);
    }
    if (r.syncSeconds !== undefined) {
      if (r.syncTransferred !== 0)
        ctx.recorder.error('tree', system.id, `the sync of the unchanged tree moved ${r.syncTransferred} file(s)`);
      else ctx.recorder.add(TREE_SYNC, system.id, r.syncSeconds, notes);
    }
  });
}

export const tree: Workload = {
  id: 'tree',
  title: 'Folder trees (small files in nested folders, and medium ones)',
  budgetMs: (config, systems) =>
    INODE_REUSE_WAIT_MS + config.runs * systems * (90_000 + WARM_UP.maxSeconds * 2000 + (config.smallFiles + 20) * 8 * PER_FILE_MS),
  async run(ctx, systems) {
    // --quick (CI) keeps this short: sftp -r moves ~5 files/s on a busy 2-core machine
    const small = ctx.config.quick ? Math.min(20, ctx.config.smallFiles) : ctx.config.smallFiles;
    const medium = ctx.config.quick ? 2 : 20;
    const mediumSize = ctx.config.quick ? 256 * 1024 : 1024 * 1024;
    const t = await makeTree(path.join(ctx.tmp, 'tree-src'), small, ctx.config.smallSize, medium, mediumSize);
    if (!ctx.config.quick) {
      ctx.log(`tree: waiting ${INODE_REUSE_WAIT_MS / 1000} s, past ext4's reuse window for the inodes earlier workloads freed`);
      await sleep(INODE_REUSE_WAIT_MS);
    }
    const copies: string[] = [];
    try {
      for (let run = 1; run <= ctx.config.runs; run++) {
        for (const system of systems) {
          ctx.log(`tree ${system.id} run ${run}/${ctx.config.runs}`);
          try {
            await runSystem(ctx, t, system, run, copies);
          } catch (error) {
            ctx.recorder.error('tree', system.id, error);
          }
        }
      }
    } finally {
      for (const copy of copies) await removeFiles(copy);
    }
  },
};
