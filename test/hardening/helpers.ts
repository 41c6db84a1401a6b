/**
 * Helpers of the hardening tests: the core tests' helpers (dispose list, error-code assertions,
 * bounded waits, the raw frame client), plus generated files, a loopback alias check, a relay that
 * can go silent, and a real server in a child process (for SIGKILL tests). Every wait here is
 * bounded; every resource is registered with `defer`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_NAME } from '../../src/protocol/frame.ts';
import { nodeEntry } from '../node-entry.ts';
export {
  authFor,
  defer,
  dispose,
  exists,
  json,
  RawClient,
  rejects,
  sha256,
  sleep,
  tempDir,
  tempFiles,
  testServer,
  waitFor,
  walk,
  within,
} from '../core/helpers.ts';
import { defer, within } from '../core/helpers.ts';

/** SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Write `bytes` of random data to `file` (1 MiB of randomness repeated with a varying prefix). */
export async function makeFile(file: string, bytes: number): Promise<string> {
  const block = randomBytes(1 << 20);
  const handle = await fsp.open(file, 'w');
  try {
    for (let at = 0, i = 0; at < bytes; at += block.length, i++) {
      block.writeUInt32BE(i, 0); // no two MiB alike: a wrong offset cannot hash the same
      await handle.write(block, 0, Math.min(block.length, bytes - at));
    }
  } finally {
    await handle.close();
  }
  return file;
}

export async function sizeOf(file: string): Promise<number> {
  return (await fsp.stat(file)).size;
}

/** Can this machine bind 127.0.0.2 (a loopback alias: Linux yes, macOS only when configured)? */
export async function hasLoopbackAlias(address = '127.0.0.2'): Promise<boolean> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, address, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

/** The client HELLO body of protocol 1.0. */
export function helloBody(extra: object = {}): object {
  return { protocol: PROTOCOL_NAME, version: [1, 0], agent: 'hardening-test', maxFrameSize: 1024 * 1024, window: 1024 * 1024, ...extra };
}

const SERVER_SCRIPT = fileURLToPath(new URL('./fixtures/server-process.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));

/** A FileShareServer running in a child process (see fixtures/server-process.ts). */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** Everything the child wrote to stderr (for failure messages). */
  stderr(): string;
  /** SIGKILL it by PID and wait (bounded) until it is gone. */
  kill(): Promise<void>;
}

/**
 * Start fixtures/server-process.ts over `root` (with further server `options`) in a child process
 * and wait (bounded) for its `PORT <n>` line. The child is SIGKILLed by PID after the test in any case.
 */
export async function startServerProcess(root: string, options: object = {}, timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeEntry(SERVER_SCRIPT), root, JSON.stringify(options)], {
    env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the server process');
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const kill = async () => {
    if (!gone) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await within(exited, 5000, `the server process ${pid} exiting`);
  };
  defer(kill);
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  let out = '';
  const port = await within(
    new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const match = /^PORT (\d+)$/m.exec(out);
        if (match) resolve(Number(match[1]));
      });
      void exited.then((how) => reject(new Error(`the server process exited (${String(how)}) before listening: ${err}`)));
    }),
    timeoutMs,
    'the server process to listen',
  );
  return { child, pid, port, exited, stderr: () => err, kill };
}

/** A TCP relay to a local port that a test can freeze: see {@link relay}. */
export interface Relay {
  readonly port: number;
  /**
   * Stop forwarding in both directions without closing anything: the network died silently (no FIN,
   * no RST). Closing the client side later does not reach the server either.
   */
  freeze(): void;
  /** Bytes each connection has carried towards the server so far, in the order they connected. */
  upstreamBytes(): number[];
}

/** What a {@link relay} does besides forwarding. */
export interface RelayOptions {
  /**
   * Forward this many bytes of each connection towards the server, then reset both sides (RST):
   * the connection is lost in the middle of whatever those bytes were carrying.
   */
  cutUpstreamAfter?: number;
}

/** A relay in front of 127.0.0.1:`targetPort`, closed (with its sockets) after the test. */
export async function relay(targetPort: number, options: RelayOptions = {}): Promise<Relay> {
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const counts: number[] = [];
  let frozen = false;
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    inbound.on('error', () => {});
    outbound.on('error', () => {});
    pairs.push([inbound, outbound]);
    const index = counts.push(0) - 1;
    if (frozen) return;
    const limit = options.cutUpstreamAfter;
    if (limit === undefined) {
      inbound.on('data', (chunk: Buffer) => (counts[index]! += chunk.length));
      inbound.pipe(outbound);
    } else {
      inbound.on('data', (chunk: Buffer) => {
        const room = limit - counts[index]!;
        if (room <= 0) return;
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        counts[index]! += part.length;
        if (counts[index]! < limit) {
          if (!outbound.write(part)) inbound.pause();
          return;
        }
        // the last bytes must reach the server before the reset does
        outbound.write(part, () => {
          outbound.resetAndDestroy();
          inbound.resetAndDestroy();
        });
      });
      outbound.on('drain', () => inbound.resume());
    }
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  defer(async () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    upstreamBytes: () => [...counts],
    freeze() {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
  };
}
