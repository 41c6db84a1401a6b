/**
 * Throughput: upload then download of one big random file (default 1 GiB), each in its own timed
 * call on an established connection (connection set-up and login excluded). Every received copy is
 * checked by SHA-256 from disk after the timed part; a bad copy records an error, not a figure.
 * MB = 10^6 bytes.
 *
 * Each transfer also reports both sides' CPU time over the timed part, so every system gets a cost
 * per MiB on each side. With SHA-256's own cost measured at the start of the workload, that gives
 * fileshare's **ceiling** on this machine: the rate the cores allow if fileshare cost only what the
 * bare pipe costs per MiB plus one SHA-256 on each side (see bench/README.md, "Method").
 */
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_CHUNK_SIZE } from '../../../src/protocol/frame.ts';
import { coreCount, probeFileWrites, probeSha256 } from '../machine.ts';
import type { Recorder } from '../results.ts';
import type { SystemDef } from '../systems.ts';
import { referenceFor } from '../systems.ts';
import { removeFiles, place, verifyCopy } from '../files.ts';
import type { TransferResult } from '../messages.ts';
import type { Metric } from '../results.ts';
import { mbPerSecond } from '../stats.ts';
import { transferTimeoutMs, withServer } from './context.ts';
import type { Workload } from './context.ts';
import { watchHarnessLoop } from './bystander.ts';

export const UPLOAD: Metric = {
  workload: 'throughput',
  name: 'upload MB/s',
  unit: 'MB/s',
  better: 'higher',
  target: [{ vs: 'pipe', bound: ['>=', 0.85] }],
};
export const DOWNLOAD: Metric = { ...UPLOAD, name: 'download MB/s' };
/** The server's event-loop delay over the session (one upload, then one download). */
export const SERVER_ELD: Metric = {
  workload: 'throughput',
  name: 'server loop delay p99 ms',
  unit: 'ms',
  better: 'lower',
  target: [{ bound: ['<=', 5] }],
};

/**
 * The bench harness's own event-loop delay over the same transfers: an otherwise idle process on
 * this machine under that load (bystander.ts), the floor under the server's figure.
 */
export const BYSTANDER_ELD: Metric = {
  workload: 'throughput',
  name: 'bystander loop delay p99 ms',
  unit: 'ms',
  better: 'lower',
};

const MiB = 1024 * 1024;

const cpuMetric = (name: string): Metric => ({ workload: 'throughput', name, unit: 'ms/MiB', better: 'lower' });
/** CPU per MiB moved, each side (user + system, all threads and child processes, over the timed part). */
export const CPU_UP_SENDER = cpuMetric('upload CPU ms/MiB, client (sends)');
export const CPU_UP_RECEIVER = cpuMetric('upload CPU ms/MiB, server (receives)');
export const CPU_DOWN_SENDER = cpuMetric('download CPU ms/MiB, server (sends)');
export const CPU_DOWN_RECEIVER = cpuMetric('download CPU ms/MiB, client (receives)');
/** Both sides' CPU seconds over the transfer's wall time: near the core count means CPU-bound. */
export const BUSY_UP: Metric = { workload: 'throughput', name: 'upload cores busy', unit: 'cores', better: 'none' };
export const BUSY_DOWN: Metric = { ...BUSY_UP, name: 'download cores busy' };
/** The whole machine's idle CPU over the transfer's wall time: cores nobody used (other load counts as busy). */
export const IDLE_UP: Metric = { workload: 'throughput', name: 'upload cores idle (machine)', unit: 'cores', better: 'none' };
export const IDLE_DOWN: Metric = { ...IDLE_UP, name: 'download cores idle (machine)' };
/** SHA-256 in node:crypto on fileshare's chunk size, one core, measured at the start of the workload. */
export const SHA256_COST = cpuMetric(`SHA-256 CPU ms/MiB (${DEFAULT_CHUNK_SIZE / 1024} KiB updates)`);
export const SHA256_RATE: Metric = { workload: 'throughput', name: 'SHA-256 MB/s, one core', unit: 'MB/s', better: 'higher' };
/** 1 MiB writes into the run's temporary folder (page cache; no fsync, like the receivers). */
export const WRITE_RATE: Metric = { workload: 'throughput', name: 'file writes MB/s (1 MiB, no fsync)', unit: 'MB/s', better: 'higher' };
/**
 * The most fileshare could move on this machine if it cost only the pipe's CPU per MiB plus
 * SHA-256 on each side: min(pipe's rate, usable cores ÷ that cost), where the usable cores are
 * those the pipe used plus those idle during it (all of them on a quiet machine). Its target says
 * whether 0.85× the pipe is reachable at all here.
 */
export const CEILING_UP: Metric = {
  workload: 'throughput',
  name: 'upload ceiling MB/s',
  unit: 'MB/s',
  better: 'none',
  target: [{ vs: 'pipe', of: UPLOAD, bound: ['>=', 0.85] }],
};
export const CEILING_DOWN: Metric = {
  ...CEILING_UP,
  name: 'download ceiling MB/s',
  target: [{ vs: 'pipe', of: DOWNLOAD, bound: ['>=', 0.85] }],
};
/** fileshare's rate over its ceiling. */
export const OF_CEILING_UP: Metric = { workload: 'throughput', name: 'upload x ceiling', unit: 'x', better: 'higher' };
export const OF_CEILING_DOWN: Metric = { ...OF_CEILING_UP, name: 'download x ceiling' };

/**
 * fileshare's rate over that of the bare pipe with SHA-256 on both sides (workers/pipe-sha.ts) in
 * the same run: what its data path keeps of a pipe that adds only the end-to-end check. The pipe
 * with the check over the bare pipe is what the check alone costs here.
 */
export const OF_HASHED_PIPE_UP: Metric = { workload: 'throughput', name: 'upload x pipe+SHA-256', unit: 'x', better: 'higher' };
export const OF_HASHED_PIPE_DOWN: Metric = { ...OF_HASHED_PIPE_UP, name: 'download x pipe+SHA-256' };

/**
 * Record {@link OF_HASHED_PIPE_UP} and its download twin for every fileshare system. (The hashed
 * pipe's own rate over the bare pipe's is its `vs pipe` column.)
 */
function recordHashedPipeRatios(recorder: Recorder, systems: readonly SystemDef[], log: (line: string) => void): void {
  for (const system of systems.filter((s) => s.worker === 'fileshare')) {
    const ref = referenceFor('pipe-sha', system.id);
    for (const [rate, ratio] of [
      [UPLOAD, OF_HASHED_PIPE_UP],
      [DOWNLOAD, OF_HASHED_PIPE_DOWN],
    ] as const) {
      const reference = median(recorder, rate, ref);
      const measured = median(recorder, rate, system.id);
      if (reference === undefined || measured === undefined) continue;
      recorder.add(ratio, system.id, measured / reference, { reference: ref, referenceMBps: reference });
      log(`throughput ${system.id} ${rate.name.split(' ')[0]!} ${(measured / reference).toFixed(2)}x ${ref}`);
    }
  }
}

/** The machine's reference costs, in the names the ceiling uses. */
const SHA256_SYSTEM = 'node:crypto';
const WRITE_SYSTEM = 'fs';

/**
 * With more than this many cores idle on the whole machine during the pipe's transfer, the pipe
 * was not CPU-bound and the CPU argument does not hold for that direction.
 */
const IDLE_CORES_ALLOWED = 0.2;

function median(recorder: Recorder, metric: Metric, system: string): number | undefined {
  return recorder.summary(metric, system)?.median;
}

/** Record each fileshare system's ceiling from the medians of the run (see {@link CEILING_UP}). */
function recordCeilings(
  recorder: Recorder,
  systems: readonly SystemDef[],
  cores: number,
  load: Record<string, unknown>,
  log: (line: string) => void,
): void {
  const sha = median(recorder, SHA256_COST, SHA256_SYSTEM);
  if (sha === undefined) return;
  for (const system of systems.filter((s) => s.worker === 'fileshare')) {
    const ref = referenceFor('pipe', system.id);
    for (const [rate, sender, receiver, busy, idle, ceiling, ofCeiling] of [
      [UPLOAD, CPU_UP_SENDER, CPU_UP_RECEIVER, BUSY_UP, IDLE_UP, CEILING_UP, OF_CEILING_UP],
      [DOWNLOAD, CPU_DOWN_SENDER, CPU_DOWN_RECEIVER, BUSY_DOWN, IDLE_DOWN, CEILING_DOWN, OF_CEILING_DOWN],
    ] as const) {
      const pipeRate = median(recorder, rate, ref);
      const pipeSender = median(recorder, sender, ref);
      const pipeReceiver = median(recorder, receiver, ref);
      const pipeBusy = median(recorder, busy, ref);
      const pipeIdle = median(recorder, idle, ref);
      if (pipeRate === undefined || pipeSender === undefined || pipeReceiver === undefined) continue;
      const costMsPerMiB = pipeSender + pipeReceiver + 2 * sha;
      // The cores the two processes could have had: what the pipe used plus what nobody used. On a
      // quiet machine that is every core; other load takes its share out of the ceiling too.
      const usableCores = pipeBusy !== undefined && pipeIdle !== undefined ? Math.min(cores, pipeBusy + pipeIdle) : cores;
      const cpuBoundMBps = ((usableCores * 1000) / costMsPerMiB) * (MiB / 1e6);
      const value = Math.min(pipeRate, cpuBoundMBps);
      const pipeCpuBound = pipeIdle !== undefined && pipeIdle <= IDLE_CORES_ALLOWED;
      recorder.add(ceiling, system.id, value, {
        reference: ref,
        cores,
        pipeMBps: pipeRate,
        pipeSenderMsPerMiB: pipeSender,
        pipeReceiverMsPerMiB: pipeReceiver,
        sha256MsPerMiB: sha,
        idealCostMsPerMiB: costMsPerMiB,
        usableCores,
        cpuBoundMBps,
        cpuBoundAllCoresMBps: ((cores * 1000) / costMsPerMiB) * (MiB / 1e6),
        pipeCoresBusy: pipeBusy ?? null,
        pipeMachineIdleCores: pipeIdle ?? null,
        pipeCpuBound,
        verdict: pipeCpuBound
          ? 'no core was idle during the pipe: CPU bounds this direction, and the ceiling is what it allows'
          : 'cores were idle during the pipe: it was not CPU-bound, so the CPU ceiling does not prove a limit for this direction',
        ...load,
      });
      log(
        `throughput ${system.id} ${rate.name.split(' ')[0]!} ceiling ${value.toFixed(0)} MB/s = ` +
          `${(value / pipeRate).toFixed(2)}x ${ref} (cost ${costMsPerMiB.toFixed(2)} ms/MiB on ${usableCores.toFixed(2)} of ${cores} cores); ` +
          (pipeCpuBound ? 'the pipe was CPU-bound' : `NOT CPU-bound: ${pipeIdle?.toFixed(2) ?? '?'} cores idle during the pipe`),
      );
      const measured = median(recorder, rate, system.id);
      if (measured !== undefined) recorder.add(ofCeiling, system.id, measured / value, { ceilingMBps: value });
    }
  }
}

export const throughput: Workload = {
  id: 'throughput',
  title: 'Throughput of one big file',
  budgetMs: (config, systems) => config.runs * systems * (2 * transferTimeoutMs(config.size) + 60_000),
  async run(ctx, systems) {
    const big = await ctx.bigFile();
    const received = path.join(ctx.tmp, 'client', 'down.bin');
    const cores = coreCount();
    const loadAtStart = os.loadavg()[0]!;
    // What SHA-256 and file writes cost here, before any system runs (at most 256 MiB each).
    const probeBytes = Math.min(big.size, 256 * MiB);
    const sha = probeSha256(probeBytes, DEFAULT_CHUNK_SIZE);
    ctx.recorder.add(SHA256_COST, SHA256_SYSTEM, sha.cpuMsPerMiB, { ...sha });
    ctx.recorder.add(SHA256_RATE, SHA256_SYSTEM, MiB / 1e6 / (sha.cpuMsPerMiB / 1000), { wallMBps: sha.mbPerSecond });
    const writes = await probeFileWrites(ctx.tmp, probeBytes);
    ctx.recorder.add(WRITE_RATE, WRITE_SYSTEM, writes.mbPerSecond, { ...writes, dir: path.dirname(ctx.tmp) });
    ctx.log(
      `throughput: ${cores} cores, load ${loadAtStart.toFixed(1)}; SHA-256 ${sha.cpuMsPerMiB.toFixed(2)} ms/MiB, ` +
        `file writes ${writes.mbPerSecond.toFixed(0)} MB/s`,
    );
    for (let run = 1; run <= ctx.config.runs; run++) {
      for (const system of systems) {
        ctx.log(`throughput ${system.id} run ${run}/${ctx.config.runs}`);
        try {
          const outcome = await withServer(ctx, system, 2 * transferTimeoutMs(big.size), async (session) => {
            const uploaded = path.join(session.dataDir, 'up.bin');
            await place(big.path, path.join(session.dataDir, 'big.bin'));
            try {
              const harnessLoop = watchHarnessLoop();
              const { results } = await session.runClient(
                [
                  { kind: 'upload', local: big.path, remote: '/up.bin' },
                  { kind: 'download', remote: '/big.bin', local: received },
                ],
                2 * transferTimeoutMs(big.size),
              );
              const loopDelay = harnessLoop.stop();
              ctx.recorder.add(BYSTANDER_ELD, system.id, loopDelay.p99Ms, { ...loopDelay });
              const [up, down] = results as TransferResult[];
              for (const [metric, result, copy] of [
                [UPLOAD, up, uploaded],
                [DOWNLOAD, down, received],
              ] as const) {
                if (result === undefined) throw new Error(`${metric.name}: no result`);
                const bad =
                  (await verifyCopy(copy, big)) ??
                  (result.sha256 !== undefined && result.sha256 !== big.sha256
                    ? `${metric.name}: the system reported a wrong SHA-256`
                    : undefined);
                if (bad !== undefined) {
                  ctx.recorder.error('throughput', system.id, bad);
                  continue;
                }
                ctx.recorder.add(metric, system.id, mbPerSecond(result.bytes, result.seconds));
                const [sender, receiver, busy] =
                  metric === UPLOAD ? [CPU_UP_SENDER, CPU_UP_RECEIVER, BUSY_UP] : [CPU_DOWN_SENDER, CPU_DOWN_RECEIVER, BUSY_DOWN];
                const client = result.clientCpuSeconds;
                const server = result.serverCpuSeconds;
                if (client === undefined || server === undefined || result.bytes === 0) continue;
                const perMiB = (cpuSeconds: number): number => (cpuSeconds * 1000) / (result.bytes / MiB);
                const [sends, receives] = metric === UPLOAD ? [client, server] : [server, client];
                ctx.recorder.add(sender, system.id, perMiB(sends), { cpuSeconds: sends });
                ctx.recorder.add(receiver, system.id, perMiB(receives), { cpuSeconds: receives });
                ctx.recorder.add(busy, system.id, (client + server) / result.seconds, { cores });
                if (result.idleCpuSeconds !== undefined) {
                  ctx.recorder.add(metric === UPLOAD ? IDLE_UP : IDLE_DOWN, system.id, result.idleCpuSeconds / result.seconds, { cores });
                }
              }
            } finally {
              await removeFiles(uploaded, received);
            }
          });
          if (outcome.serverEventLoop !== undefined) {
            ctx.recorder.add(SERVER_ELD, system.id, outcome.serverEventLoop.p99Ms, { ...outcome.serverEventLoop });
          }
        } catch (error) {
          ctx.recorder.error('throughput', system.id, error);
        }
      }
    }
    const loadAtEnd = os.loadavg()[0]!;
    recordCeilings(ctx.recorder, systems, cores, { loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd }, ctx.log);
    recordHashedPipeRatios(ctx.recorder, systems, ctx.log);
  },
};
