/**
 * What this machine itself allows, measured at the start of the throughput workload so that the
 * ceiling it computes comes from the same run (and the same load) as the figures it judges:
 * SHA-256's cost in node:crypto on the slice size fileshare hashes, and the rate of 1 MiB file
 * writes into the run's temporary folder.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface CostProbe {
  /** CPU milliseconds per MiB (user + system of this process, all threads). */
  readonly cpuMsPerMiB: number;
  /** Wall-clock rate, MB/s (10^6 bytes). */
  readonly mbPerSecond: number;
  readonly bytes: number;
  readonly sliceBytes: number;
}

const MiB = 1024 * 1024;
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};

/**
 * Hash `bytes` (rounded to whole slices) of random data in `sliceBytes` updates, `rounds` times;
 * keep the round with the least CPU per MiB (the others were the machine's other work preempting
 * us, which CPU time mostly excludes, or the JIT warming up).
 */
export function probeSha256(bytes: number, sliceBytes: number, rounds = 3): CostProbe {
  const block = randomFillSync(Buffer.allocUnsafe(Math.max(sliceBytes, 4 * MiB)));
  const slices = Math.max(1, Math.floor(bytes / sliceBytes));
  let best: CostProbe | undefined;
  for (let round = 0; round < rounds; round++) {
    const hash = createHash('sha256');
    const cpu0 = cpuNow();
    const t0 = performance.now();
    for (let i = 0, at = 0; i < slices; i++) {
      if (at + sliceBytes > block.length) at = 0;
      hash.update(block.subarray(at, at + sliceBytes));
      at += sliceBytes;
    }
    hash.digest();
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuNow() - cpu0;
    const total = slices * sliceBytes;
    const probe = { cpuMsPerMiB: cpu / (total / MiB), mbPerSecond: total / 1e6 / wall, bytes: total, sliceBytes };
    if (best === undefined || probe.cpuMsPerMiB < best.cpuMsPerMiB) best = probe;
  }
  return best!;
}

/** Write `bytes` in 1 MiB writes to a new file in `dir` (no fsync: the bench's receivers do not sync either), then remove it. */
export async function probeFileWrites(dir: string, bytes: number): Promise<CostProbe> {
  const file = path.join(dir, `write-probe-${process.pid}.bin`);
  const block = randomFillSync(Buffer.allocUnsafe(MiB));
  const handle = await open(file, 'w');
  const slices = Math.max(1, Math.floor(bytes / MiB));
  let cpu = 0;
  let wall = 0;
  try {
    const cpu0 = cpuNow();
    const t0 = performance.now();
    for (let i = 0; i < slices; i++) await handle.write(block, 0, MiB);
    wall = (performance.now() - t0) / 1000;
    cpu = cpuNow() - cpu0;
  } finally {
    await handle.close();
    await rm(file, { force: true });
  }
  const total = slices * MiB;
  return { cpuMsPerMiB: cpu / slices, mbPerSecond: total / 1e6 / wall, bytes: total, sliceBytes: MiB };
}

/** Cores this process may run on. */
export function coreCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
