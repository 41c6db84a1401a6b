/**
 * CPU time of processes, for the throughput workload's cost per MiB and its ceiling. Linux only
 * (`/proc`); elsewhere every figure is `undefined` and the CPU rows are left out.
 *
 * A side's CPU is user + system time of all its threads (the thread pool that does fs writes, the
 * kernel time of its socket calls) and of its descendants (sftp's server side is `sshd` and its
 * per-connection session processes, which serve SFTP, not the worker itself).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux we know). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it, found by walking /proc once. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields === undefined) continue;
    const parent = Number(fields[1]); // field 4 of the whole line: ppid
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 10_000) {
    const next = queue.shift()!;
    out.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return out;
}

/**
 * User + system CPU seconds used so far by `pids` (all threads of each; 1 / CLK_TCK resolution),
 * or undefined when /proc cannot be read. Processes that are gone count as 0.
 */
export function cpuSeconds(pids: readonly number[]): number | undefined {
  return sumStatTicks(pids, false);
}

/**
 * {@link cpuSeconds} plus what each process's children that ended and were waited for used
 * (cutime + cstime): the `sftp` and `ssh` processes an `sftp -r` spawns for one command, and the
 * per-connection `sshd` processes, which start after the trees are found and end before the count.
 */
export function cpuSecondsWithReaped(pids: readonly number[]): number | undefined {
  return sumStatTicks(pids, true);
}

function sumStatTicks(pids: readonly number[], withReaped: boolean): number | undefined {
  let ticks = 0;
  let seen = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields === undefined) continue;
    seen++;
    // fields 14-17 of the line: utime, stime, cutime, cstime
    ticks += Number(fields[11]) + Number(fields[12]);
    if (withReaped) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return seen === 0 ? undefined : ticks / clockTicks();
}

/**
 * Idle CPU seconds of the whole machine so far (idle + iowait of every core, /proc/stat), or
 * undefined without /proc. Over a transfer it says whether cores were left unused, by any process.
 */
export function machineIdleSeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    return ((fields[3] ?? 0) + (fields[4] ?? 0)) / clockTicks();
  } catch {
    return undefined;
  }
}
