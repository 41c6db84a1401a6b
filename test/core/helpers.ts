/**
 * Shared helpers of the core integration tests: a dispose list drained after each test, error
 * assertions on `code`, bounded waits, temp folders, and a raw socket client that speaks frames
 * built with the protocol encoder (for tests of hostile or broken peers).
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import type { MemoryAuthProvider, PlainUserEntry } from '../../src/auth/memory-provider.ts';
import { FileShareError, type FileShareErrorCode } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType, PROTOCOL_NAME } from '../../src/protocol/frame.ts';
import { createTestServer, type TestServer, type TestServerOptions } from '../../src/testing/index.ts';
import { fixtureAuth } from '../auth-fixtures.ts';

type Disposer = () => unknown;
const disposers: Disposer[] = [];

/** Register something to undo after the current test (last registered runs first). */
export function defer(fn: Disposer): void {
  disposers.push(fn);
}

/** Drain the dispose list. Use as `test.after.each(dispose)`. Errors are swallowed: cleanup must not mask a failure. */
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

/**
 * A MemoryAuthProvider for `users`, made once per distinct set (a provider holds no resources),
 * with bcrypt hashes of the fixtures' low cost (../auth-fixtures.ts): logins run the real check.
 */
export function authFor(users: Record<string, PlainUserEntry>): Promise<MemoryAuthProvider> {
  const key = JSON.stringify(users);
  if (!providers.has(key)) providers.set(key, Promise.resolve(fixtureAuth(users)));
  return providers.get(key)!;
}

/**
 * {@link createTestServer}, closed after the test. Login throttling is off unless asked for.
 * Its users come from {@link authFor} unless `auth` is given.
 */
export async function testServer(options: TestServerOptions = {}): Promise<TestServer> {
  const users = options.users ?? { alice: 'alice-password' };
  const auth = options.auth ?? (await authFor(users));
  const t = await createTestServer({ ...options, users, auth, server: { loginThrottle: false, ...options.server } });
  defer(() => t.close());
  return t;
}

/** A fresh temp folder (real path), removed after the test. */
export async function tempDir(label = 'fileshare-core-'): Promise<string> {
  const dir = await fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), label)));
  defer(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Await `promise` and check it rejects with a FileShareError of `code`; returns the error. */
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

/** Await `promise`, which must reject with a FileShareError (any code); returns it. */
export async function failure(promise: Promise<unknown>): Promise<FileShareError> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof FileShareError)) throw err;
    return err;
  }
  assert.unreachable('expected a rejection');
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

/** Race `promise` against a deadline (a hung test must fail, not hang). */
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

/** All file names under `dir`, recursively, relative to it (POSIX separators). */
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

/** Names of upload temp files anywhere under `dir`. */
/** Whether a file name is one of the temporary names of a transfer in progress. */
export function isTempName(name: string): boolean {
  return path.posix.basename(name).includes('.fileshare-part-');
}

export async function tempFiles(dir: string): Promise<string[]> {
  return (await walk(dir)).filter(isTempName);
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * `bytes` of random-looking data, different at every call: the AES-256-CTR keystream under a fresh
 * random key and counter. Incompressible and unique like `randomBytes()`, which tests only need
 * as payloads, at an eighth of its CPU (the suite makes a few hundred MiB of them).
 */
export function randomData(bytes: number): Buffer {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  return cipher.update(Buffer.alloc(bytes));
}

/** The client HELLO body of protocol 1.0 (or another `version`). */
export function helloBody(version: [number, number] = [1, 0], extra: object = {}): object {
  return { protocol: PROTOCOL_NAME, version, agent: 'raw-test', maxFrameSize: 1024 * 1024, window: 1024 * 1024, ...extra };
}

/**
 * A bare socket that sends whatever bytes a test builds and decodes what the server answers.
 * Frames are collected in order; {@link RawClient.next} waits (bounded) for one matching.
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
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const raw = new RawClient(socket);
    defer(() => raw.socket.destroy());
    return raw;
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

  /** The ERROR frame on stream 0, parsed. */
  async connectionError(timeoutMs = 5000): Promise<{ code: string; message: string }> {
    const frame = await this.next((f) => f.type === FrameType.ERROR && f.stream === 0, timeoutMs);
    return JSON.parse(frame.body.toString('utf8')) as { code: string; message: string };
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

/** A raw connection that completed HELLO (returned) and logged in as `user` (request id 1). */
export async function loggedIn(t: TestServer, user = 'alice'): Promise<{ raw: RawClient; hello: Record<string, unknown> }> {
  const raw = await RawClient.connect(t.port);
  const hello = json(await raw.hello());
  raw.request(1, { op: 'login', username: user, password: `${user}-password` });
  const answer = await raw.next((f) => f.stream === 1 && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR));
  assert.is(answer.type, FrameType.RESPONSE, `login failed: ${answer.body.toString()}`);
  return { raw, hello };
}

/** The final frame (RESPONSE or ERROR) of request `id` on a raw connection. */
export function answer(raw: RawClient, id: number): Promise<Frame> {
  return raw.next((f) => f.stream === id && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR));
}
