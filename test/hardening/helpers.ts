/**
 * Helpers of the hardening tests: a dispose list drained after each test, assertions on error
 * codes, bounded waits, generated files, a raw frame client, and a real server in a child process
 * (for SIGKILL tests). Every wait here is bounded; every resource is registered with `defer`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { MemoryAuthProvider, type PlainUserEntry } from '../../src/auth/memory-provider.ts';
import { FileShareError, type FileShareErrorCode } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType, PROTOCOL_NAME } from '../../src/protocol/frame.ts';
import { createTestServer, type TestServer, type TestServerOptions } from '../../src/testing/index.ts';

type Disposer = () => unknown;
const disposers: Disposer[] = [];

/** Register something to undo after the current test (last registered runs first). */
export function defer(fn: Disposer): void {
  disposers.push(fn);
}

/** Drain the dispose list: `test.after.each(dispose)`. Cleanup errors never mask a test failure. */
export async function dispose(): Promise<void> {
  while (disposers.length > 0) {
    const fn = disposers.pop()!;
    try {
      await fn();
    } catch {
      /* best effort */
    }
  }
}

const providers = new Map<string, Promise<MemoryAuthProvider>>();

/** A MemoryAuthProvider for `users`, hashed once per distinct set (bcrypt is slow). */
export function authFor(users: Record<string, PlainUserEntry>): Promise<MemoryAuthProvider> {
  const key = JSON.stringify(users);
  if (!providers.has(key)) providers.set(key, MemoryAuthProvider.fromPasswords(users));
  return providers.get(key)!;
}

/** {@link createTestServer}, closed after the test. Login throttling is off unless asked for. */
export async function testServer(options: TestServerOptions = {}): Promise<TestServer> {
  const users = options.users ?? { alice: 'alice-password' };
  const auth = options.auth ?? (await authFor(users));
  const t = await createTestServer({ ...options, users, auth, server: { loginThrottle: false, ...options.server } });
  defer(() => t.close());
  return t;
}

/** A fresh temp folder (real path), removed after the test. */
export async function tempDir(label = 'fileshare-hardening-'): Promise<string> {
  const dir = await fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), label)));
  defer(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Await `promise`; it must reject with a FileShareError of `code`. Returns the error. */
export async function rejects(promise: Promise<unknown>, code: FileShareErrorCode): Promise<FileShareError> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof FileShareError)) throw err;
    assert.is(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.unreachable(`expected a rejection with ${code}`);
  throw new Error('unreachable');
}

/** Poll `check` until it returns true, at most `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.unreachable(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Race `promise` against a deadline: a hung test fails instead of hanging. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

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

/** All names under `dir`, recursively, relative to it (POSIX separators), sorted. */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string) => {
    for (const d of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${d.name}` : d.name;
      out.push(child);
      if (d.isDirectory()) await visit(child);
    }
  };
  await visit('');
  return out.sort();
}

/** Names of server-side upload temp files anywhere under `dir`. */
export async function tempFiles(dir: string): Promise<string[]> {
  return (await walk(dir)).filter((name) => path.posix.basename(name).startsWith('.fileshare-part-'));
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch {
    return false;
  }
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

/**
 * A bare socket that sends the bytes a test builds and decodes what the server answers, for
 * checking exactly what the server sent and when (before any DATA, say).
 */
export class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  private waiters: Array<() => void> = [];
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.decoder.push(chunk)) this.frames.push({ ...frame, body: Buffer.from(frame.body) });
      } catch {
        /* the test looks at what was decoded */
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static async connect(port: number, localAddress?: string): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    defer(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  write(bytes: Buffer | Buffer[]): void {
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) this.socket.write(b);
  }

  /** Send HELLO and wait for the server's. */
  async hello(): Promise<Frame> {
    this.write(encodeJsonFrame(FrameType.HELLO, 0, helloBody()));
    return this.next((f) => f.type === FrameType.HELLO);
  }

  /** Send a REQUEST. */
  request(id: number, body: object): void {
    this.write(encodeJsonFrame(FrameType.REQUEST, id, body));
  }

  /** HELLO, then log in with request id 1. */
  async login(username: string, password: string): Promise<void> {
    await this.hello();
    this.request(1, { op: 'login', username, password });
    const answer = await this.next((f) => f.stream === 1 && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR));
    assert.is(answer.type, FrameType.RESPONSE, `login failed: ${answer.body.toString('utf8')}`);
  }

  /** The first collected frame matching `match` (removed from the list), waiting at most `timeoutMs`. */
  async next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0]!;
      if (this.closed) assert.unreachable(`connection closed before the expected frame; got ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) assert.unreachable(`no expected frame within ${timeoutMs} ms; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Wait (bounded) until the server closed the socket. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await within(this.closedPromise, timeoutMs, 'the server closing the raw connection');
  }

  private describe(): string {
    return JSON.stringify(this.frames.map((f) => ({ type: f.type, stream: f.stream, body: f.body.toString('utf8').slice(0, 100) })));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Parse a JSON frame body. */
export function json(frame: Frame): Record<string, unknown> {
  return JSON.parse(frame.body.toString('utf8')) as Record<string, unknown>;
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
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, root, JSON.stringify(options)], {
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
}

/** A relay in front of 127.0.0.1:`targetPort`, closed (with its sockets) after the test. */
export async function relay(targetPort: number): Promise<Relay> {
  const pairs: Array<[net.Socket, net.Socket]> = [];
  let frozen = false;
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    inbound.on('error', () => {});
    outbound.on('error', () => {});
    pairs.push([inbound, outbound]);
    if (frozen) return;
    inbound.pipe(outbound);
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
