/**
 * The client-side workloads, written once against the {@link Driver} interface so every system is
 * measured by the same code. Every loop here is bounded by a count and most by a time limit too.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { latency, sorted, percentileOfSorted } from '../stats.ts';
import type {
  ClientConfig,
  ClientTask,
  ConcurrencyResult,
  LoginsResult,
  PingResult,
  PingSeriesResult,
  RoundTrips,
  SmallResult,
  Span,
  TransferLoad,
  TransferLoopResult,
  TaskResult,
  TransferResult,
  TreeResult,
  WarmUp,
} from '../messages.ts';
import { HOST } from '../messages.ts';
import type { Connection, Driver, Moved } from './runtime.ts';
import { cpuSeconds, cpuSecondsWithReaped, machineIdleSeconds, processTree } from '../cpu.ts';

const now = (): bigint => process.hrtime.bigint();
const seconds = (from: bigint): number => Number(now() - from) / 1e9;
const micros = (from: bigint): number => Number(now() - from) / 1e3;

function message(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code !== undefined ? `${String(code)}: ${error.message}` : error.message;
  }
  return String(error);
}

async function closeQuietly(conn: Connection | undefined): Promise<void> {
  if (conn !== undefined) await conn.close().catch(() => {});
}

async function transfer(
  driver: Driver,
  config: ClientConfig,
  task: Extract<ClientTask, { kind: 'upload' | 'download' }>,
): Promise<TransferResult> {
  const conn = await driver.connect(config);
  try {
    // The process trees are found before the clock starts (a walk of /proc); reading their CPU
    // counters is a few small reads, so it barely touches the figure it measures.
    const ours = processTree(process.pid);
    const theirs = config.serverPid !== undefined ? processTree(config.serverPid) : [];
    const clientCpu0 = cpuSeconds(ours);
    const serverCpu0 = cpuSeconds(theirs);
    const idle0 = machineIdleSeconds();
    const start = now();
    const moved = task.kind === 'upload' ? await conn.upload(task.local, task.remote) : await conn.download(task.remote, task.local);
    const elapsed = seconds(start);
    const clientCpu1 = cpuSeconds(ours);
    const serverCpu1 = cpuSeconds(theirs);
    const idle1 = machineIdleSeconds();
    return {
      kind: task.kind,
      seconds: elapsed,
      bytes: moved.bytes,
      ...(moved.sha256 !== undefined ? { sha256: moved.sha256 } : {}),
      ...(clientCpu0 !== undefined && clientCpu1 !== undefined ? { clientCpuSeconds: clientCpu1 - clientCpu0 } : {}),
      ...(serverCpu0 !== undefined && serverCpu1 !== undefined ? { serverCpuSeconds: serverCpu1 - serverCpu0 } : {}),
      ...(idle0 !== undefined && idle1 !== undefined ? { idleCpuSeconds: idle1 - idle0 } : {}),
    };
  } finally {
    await closeQuietly(conn);
  }
}

async function pingIdle(driver: Driver, config: ClientConfig, count: number): Promise<PingResult> {
  const conn = await driver.connect(config);
  try {
    // A few unrecorded pings first: JIT, lazily opened sockets, TLS session state.
    // warm up until the JIT has optimized every system's ping path: we compare steady states
    for (let i = 0; i < Math.min(200, count); i++) await conn.ping();
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = now();
      await conn.ping();
      samples.push(micros(start));
    }
    return { kind: 'ping', ...latency(samples) };
  } finally {
    await closeQuietly(conn);
  }
}

/** The `index`-th transfer of a load: downloads and uploads alternate, a download first. */
function nthTransfer(mover: Connection, load: TransferLoad, index: number): Promise<Moved> {
  return index % 2 === 0 ? mover.download(load.remote, load.downloadLocal) : mover.upload(load.local, load.uploadRemote);
}

async function pingUnderLoad(
  driver: Driver,
  config: ClientConfig,
  task: Extract<ClientTask, { kind: 'pingUnderLoad' }>,
): Promise<PingResult> {
  const mover = await driver.connect(config);
  const pinger = driver.pingDuringTransfer ? mover : await driver.connect(config);
  const deadline = Date.now() + task.maxSeconds * 1000;
  let generation = 0; // bumped whenever a transfer starts or ends
  let active = false;
  let done = false;
  let transfers = 0;
  let transferBytes = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const load = (async () => {
    try {
      while (!done && transfers < task.maxTransfers && Date.now() < deadline) {
        const op = nthTransfer(mover, task, transfers);
        active = true;
        generation++;
        signal();
        try {
          transferBytes += (await op).bytes;
        } finally {
          active = false;
          generation++;
          transfers++;
        }
      }
    } catch (error) {
      failure = error;
    } finally {
      done = true;
      signal();
    }
  })();

  const samples: number[] = [];
  try {
    for (let attempts = 0; samples.length < task.count && attempts < task.count * 20; attempts++) {
      if (done || Date.now() >= deadline) break;
      if (!active) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        continue;
      }
      const before = generation;
      const start = now();
      await pinger.ping();
      const us = micros(start);
      if (active && generation === before) samples.push(us);
    }
  } finally {
    done = true;
    await load;
    if (pinger !== mover) await closeQuietly(pinger);
    await closeQuietly(mover);
  }
  if (failure !== undefined) throw failure;
  return {
    kind: 'pingUnderLoad',
    ...latency(samples),
    sameConnection: pinger === mover,
    transfers,
    transferBytes,
  };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes. */
const wallMs = (): number => performance.timeOrigin + performance.now();

async function transferLoop(
  driver: Driver,
  config: ClientConfig,
  task: Extract<ClientTask, { kind: 'transferLoop' }>,
): Promise<TransferLoopResult> {
  const mover = await driver.connect(config);
  const deadline = Date.now() + task.maxSeconds * 1000;
  const spans: Span[] = [];
  let transferBytes = 0;
  try {
    while (spans.length < task.maxTransfers && Date.now() < deadline) {
      const start = wallMs();
      const moved = await nthTransfer(mover, task, spans.length);
      spans.push([start, wallMs()]);
      transferBytes += moved.bytes;
    }
  } finally {
    await closeQuietly(mover);
  }
  return { kind: 'transferLoop', spans, transferBytes };
}

/** One round trip of 8 bytes on a bare echo socket. */
class EchoPinger {
  private readonly body = Buffer.alloc(8);
  private waiting: (() => void) | undefined;
  private received = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      if (this.received >= 8 && this.waiting) {
        this.received -= 8;
        const done = this.waiting;
        this.waiting = undefined;
        done();
      }
    });
  }

  static async open(port: number): Promise<EchoPinger> {
    const socket = net.connect({ host: HOST, port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new EchoPinger(socket);
  }

  ping(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bystander echo: no answer in 10 s')), 10_000);
      this.waiting = () => {
        clearTimeout(timer);
        resolve();
      };
      this.socket.write(this.body);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

class RoundTripLog {
  private readonly origin = wallMs();
  private readonly startsCs: number[] = [];
  private readonly micros: number[] = [];

  async time(roundTrip: () => Promise<void>): Promise<void> {
    const start = performance.now();
    await roundTrip();
    const end = performance.now();
    this.startsCs.push(Math.round((performance.timeOrigin + start - this.origin) * 100));
    this.micros.push(Math.round((end - start) * 1000));
  }

  get count(): number {
    return this.micros.length;
  }

  toJSON(): RoundTrips {
    return { origin: this.origin, startsCs: this.startsCs, micros: this.micros };
  }
}

async function pingSeries(
  driver: Driver,
  config: ClientConfig,
  task: Extract<ClientTask, { kind: 'pingSeries' }>,
): Promise<PingSeriesResult> {
  const conn = await driver.connect(config);
  const echo = task.echoPort !== undefined ? await EchoPinger.open(task.echoPort) : undefined;
  const pings = new RoundTripLog();
  const echoes = new RoundTripLog();
  try {
    // warm up both paths (JIT, lazily opened sockets) before anything is recorded
    for (let i = 0; i < 50; i++) {
      await conn.ping();
      await echo?.ping();
    }
    // paced, so that the pings cover the whole load and stay a light load themselves
    const intervalMs = (task.maxSeconds * 1000) / task.maxPings;
    const began = performance.now();
    const deadline = began + task.maxSeconds * 1000;
    while (pings.count < task.maxPings && performance.now() < deadline) {
      const due = began + pings.count * intervalMs;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      await pings.time(() => conn.ping());
      if (echo) await echoes.time(() => echo.ping());
    }
  } finally {
    echo?.close();
    await closeQuietly(conn);
  }
  return { kind: 'pingSeries', pings: pings.toJSON(), echoes: echoes.toJSON() };
}

/**
 * Run `jobs` with at most `lanes` at once; each lane gets its own slot index (a connection).
 * The first error is remembered and counted; the remaining jobs still run.
 */
async function lanes(
  count: number,
  laneCount: number,
  job: (index: number, lane: number) => Promise<void>,
): Promise<{ errors: number; firstError?: string }> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(laneCount, count)) }, async (_, lane) => {
      while (next < count) {
        const index = next++;
        try {
          await job(index, lane);
        } catch (error) {
          errors++;
          firstError ??= message(error);
        }
      }
    }),
  );
  return { errors, ...(firstError !== undefined ? { firstError } : {}) };
}

/** Run the untimed passes of `plan` after a timed one that took `firstSeconds` (see WarmUp in messages.ts). */
async function warmUp(plan: WarmUp | undefined, firstSeconds: number, pass: (k: number) => Promise<void>): Promise<void> {
  if (plan === undefined) return;
  let spent = 0;
  let last = firstSeconds;
  for (let k = 1; k <= plan.passes && spent + last <= plan.maxSeconds; k++) {
    const start = now();
    await pass(k);
    last = seconds(start);
    spent += last;
  }
}

async function small(driver: Driver, config: ClientConfig, task: Extract<ClientTask, { kind: 'small' }>): Promise<SmallResult> {
  await mkdir(task.downloadDir, { recursive: true });
  const sequential = task.parallel === 1;
  // "As many in flight as the API allows": a multiplexing API gets its limit on one connection;
  // a one-transfer-per-connection API gets several connections, one transfer each.
  const perConnection = sequential ? 1 : task.parallel > 0 ? Math.min(task.parallel, driver.maxInFlight) : driver.maxInFlight;
  const connections = sequential || driver.maxInFlight > 1 ? 1 : Math.max(1, task.connections);
  const inFlight = perConnection * connections;
  const conns: Connection[] = [];
  try {
    for (let i = 0; i < connections; i++) conns.push(await driver.connect(config));
    const remote = (i: number): string => `${task.remotePrefix}${String(i).padStart(5, '0')}.bin`;
    const laneConn = (lane: number): Connection => conns[lane % connections]!;

    let start = now();
    const up = await lanes(task.files.length, inFlight, async (i, lane) => {
      await laneConn(lane).upload(task.files[i]!, remote(i));
    });
    const uploadSeconds = seconds(start);

    start = now();
    const down = await lanes(task.files.length, inFlight, async (i, lane) => {
      await laneConn(lane).download(remote(i), path.join(task.downloadDir, path.basename(task.files[i]!)));
    });
    const downloadSeconds = seconds(start);

    // each warm-up pass on connections of its own: V8 specialises code to the first connection's
    // objects and throws that code away when a second one appears (bench/README "fourteenth"), so
    // the measured passes come after several, as on a server that has served clients before
    await warmUp(task.warmUp, uploadSeconds + downloadSeconds, async (k) => {
      const again = (i: number): string => `${remote(i)}-w${k}`;
      const folder = `${task.downloadDir}-w${k}`;
      await mkdir(folder, { recursive: true });
      const warm: Connection[] = [];
      try {
        for (let i = 0; i < connections; i++) warm.push(await driver.connect(config));
        const upAgain = await lanes(task.files.length, inFlight, async (i, lane) => {
          await warm[lane % connections]!.upload(task.files[i]!, again(i));
        });
        const downAgain = await lanes(task.files.length, inFlight, async (i, lane) => {
          await warm[lane % connections]!.download(again(i), path.join(folder, path.basename(task.files[i]!)));
        });
        const failed = upAgain.firstError ?? downAgain.firstError;
        if (failed !== undefined) throw new Error(`warm-up pass ${k}: ${failed}`);
      } finally {
        await Promise.all(warm.map(closeQuietly));
      }
    });

    const firstError = up.firstError ?? down.firstError;
    return {
      kind: 'small',
      count: task.files.length,
      uploadSeconds,
      downloadSeconds,
      inFlight,
      connections,
      errors: up.errors + down.errors,
      ...(firstError !== undefined ? { firstError } : {}),
    };
  } finally {
    await Promise.all(conns.map(closeQuietly));
  }
}

async function concurrency(
  driver: Driver,
  config: ClientConfig,
  task: Extract<ClientTask, { kind: 'concurrency' }>,
): Promise<ConcurrencyResult> {
  const firstErrors: string[] = [];
  const perClient: number[] = [];
  let errors = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: task.clients }, async (_, i) => {
      const began = now();
      let conn: Connection | undefined;
      try {
        conn = await driver.connect(config);
        await conn.upload(task.local, `${task.remotePrefix}${String(i).padStart(5, '0')}.bin`);
        perClient.push(seconds(began));
      } catch (error) {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(message(error));
      } finally {
        await closeQuietly(conn);
      }
    }),
  );
  const total = seconds(start);
  const s = sorted(perClient);
  return {
    kind: 'concurrency',
    clients: task.clients,
    seconds: total,
    errors,
    firstErrors,
    clientP50: percentileOfSorted(s, 50),
    clientMax: percentileOfSorted(s, 100),
  };
}

async function tree(driver: Driver, config: ClientConfig, task: Extract<ClientTask, { kind: 'tree' }>): Promise<TreeResult> {
  const conn = await driver.connect(config);
  try {
    if (!conn.uploadTree || !conn.downloadTree) throw new Error('this system has no folder transfer');
    await conn.prepareTree?.();
    // as for transfers, the process trees are found before the clock starts; processes spawned
    // and reaped meanwhile (sftp -r's own) count through their parents' cutime / cstime
    const ours = processTree(process.pid);
    const theirs = config.serverPid !== undefined ? processTree(config.serverPid) : [];
    // the per-command sshd sessions of sftp -r end a little after the command does: their CPU is
    // counted once they are gone (reaped into the listener's cutime), outside the timed part
    const settled = async () => {
      if (config.serverPid === undefined) return;
      const known = new Set(theirs);
      for (let i = 0; i < 100 && processTree(config.serverPid).some((pid) => !known.has(pid)); i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
    };
    const sample = () => ({ client: cpuSecondsWithReaped(ours), server: cpuSecondsWithReaped(theirs) });
    const s0 = sample();
    let start = now();
    await conn.uploadTree(task.local, task.remote);
    const uploadSeconds = seconds(start);
    await settled();
    const s1 = sample();
    start = now(); // the system creates downloadDir itself, as its users see it do
    await conn.downloadTree(task.remote, task.downloadDir);
    const downloadSeconds = seconds(start);
    await settled();
    const s2 = sample();
    const spent = (a: typeof s0, b: typeof s0) =>
      a.client !== undefined && b.client !== undefined && a.server !== undefined && b.server !== undefined
        ? { client: b.client - a.client, server: b.server - a.server }
        : undefined;
    const up = spent(s0, s1);
    const down = spent(s1, s2);
    const cpu = up && down ? { cpu: { upload: up, download: down } } : {};
    // a connection of its own per warm-up pass, as in small()
    await warmUp(task.warmUp, uploadSeconds + downloadSeconds, async (k) => {
      const warm = await driver.connect(config);
      try {
        await warm.prepareTree?.();
        await warm.uploadTree!(task.local, `${task.remote}-w${k}`);
        await warm.downloadTree!(`${task.remote}-w${k}`, `${task.downloadDir}-w${k}`);
      } finally {
        await closeQuietly(warm);
      }
    });
    if (!conn.syncTree) return { kind: 'tree', uploadSeconds, downloadSeconds, ...cpu };
    start = now();
    const syncTransferred = await conn.syncTree(task.local, task.remote);
    return { kind: 'tree', uploadSeconds, downloadSeconds, ...cpu, syncSeconds: seconds(start), syncTransferred };
  } finally {
    await closeQuietly(conn);
  }
}

async function logins(driver: Driver, config: ClientConfig, clients: number): Promise<LoginsResult> {
  const firstErrors: string[] = [];
  let errors = 0;
  const start = now();
  let last = start;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      let conn: Connection | undefined;
      try {
        conn = await driver.connect(config);
        last = now();
      } catch (error) {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(message(error));
      } finally {
        await closeQuietly(conn);
      }
    }),
  );
  return { kind: 'logins', clients, seconds: Number(last - start) / 1e9, errors, firstErrors };
}

async function saveTokens(driver: Driver, config: ClientConfig, clients: number, file: string): Promise<LoginsResult> {
  const login = driver.loginForToken?.bind(driver);
  if (login === undefined) throw new Error('this system has no session resumption');
  const tokens: string[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      try {
        tokens.push(await login(config));
      } catch (error) {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(message(error));
      }
    }),
  );
  const elapsed = seconds(start);
  await writeFile(file, JSON.stringify(tokens));
  return { kind: 'saveTokens', clients, seconds: elapsed, errors, firstErrors };
}

async function resumeStorm(driver: Driver, config: ClientConfig, file: string): Promise<LoginsResult> {
  const resume = driver.resumeWith?.bind(driver);
  if (resume === undefined) throw new Error('this system has no session resumption');
  const tokens = JSON.parse(await readFile(file, 'utf8')) as string[];
  const firstErrors: string[] = [];
  let errors = 0;
  const start = now();
  let last = start;
  await Promise.all(
    tokens.map(async (token) => {
      let conn: Connection | undefined;
      try {
        conn = await resume(config, token);
        last = now();
      } catch (error) {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(message(error));
      } finally {
        await closeQuietly(conn);
      }
    }),
  );
  return { kind: 'resumeStorm', clients: tokens.length, seconds: Number(last - start) / 1e9, errors, firstErrors };
}

/** Run one task against a system. */
export function runTask(driver: Driver, config: ClientConfig, task: ClientTask): Promise<TaskResult> {
  switch (task.kind) {
    case 'upload':
    case 'download':
      return transfer(driver, config, task);
    case 'ping':
      return pingIdle(driver, config, task.count);
    case 'pingUnderLoad':
      return pingUnderLoad(driver, config, task);
    case 'transferLoop':
      return transferLoop(driver, config, task);
    case 'pingSeries':
      return pingSeries(driver, config, task);
    case 'small':
      return small(driver, config, task);
    case 'concurrency':
      return concurrency(driver, config, task);
    case 'tree':
      return tree(driver, config, task);
    case 'logins':
      return logins(driver, config, task.clients);
    case 'saveTokens':
      return saveTokens(driver, config, task.clients, task.file);
    case 'resumeStorm':
      return resumeStorm(driver, config, task.file);
  }
}
