/**
 * Plays one fuzz case (wire-cases.ts) against a live server over a bare socket and checks what
 * comes back: every byte the server sends must decode as frames a server may send, every ERROR
 * must carry a documented code (and never `EIO`, which means an internal failure), a request gets
 * at most one final frame and nothing after it, a connection error is the last frame before the
 * server closes, and `{ bytes, sha256 }` answers match the bytes that actually crossed the wire.
 */
import { createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import { ERROR_CODES, type FileShareErrorCode } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FrameType,
  LENGTH_OVERHEAD,
  MAX_MAX_FRAME_SIZE,
  MAX_PING_BODY,
  frameTypeName,
} from '../../src/protocol/frame.ts';
import type { BuiltCase } from './wire-cases.ts';

/** Frame types a server may send (docs/protocol.md §1). */
const SERVER_TYPES: ReadonlySet<number> = new Set([
  FrameType.HELLO,
  FrameType.PARTIAL,
  FrameType.RESPONSE,
  FrameType.ERROR,
  FrameType.DATA,
  FrameType.CREDIT,
  FrameType.PONG,
  FrameType.GOAWAY,
]);

/** A received frame, without DATA bodies (only their length). */
export interface SeenFrame {
  readonly type: number;
  readonly stream: number;
  readonly length: number;
  readonly json?: Record<string, unknown>;
}

export interface CaseResult {
  readonly frames: SeenFrame[];
  /** Broken rules, each a sentence; empty when the server behaved. */
  readonly violations: string[];
  /** Frames longer than the maxFrameSize our HELLO announced (kept apart: see the test file). */
  readonly oversized: string[];
  readonly closedByServer: boolean;
}

export interface RunOptions {
  /** Stop waiting for more answers after this long without any (ms). */
  readonly quietMs: number;
  /** Hard limit for the whole case (ms). */
  readonly caseTimeoutMs: number;
}

const MAX_CHUNKS = 64;
const MAX_PAUSES = 16;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run `built` on a fresh connection to `port`, cut into `chunkSizes`, pausing every `pauseEvery` chunks. */
export async function runCase(
  port: number,
  built: BuiltCase,
  shape: { chunkSizes: readonly number[]; pauseEvery: number; leave: 'destroy' | 'end' },
  options: RunOptions,
): Promise<CaseResult> {
  const started = Date.now();
  const deadline = started + options.caseTimeoutMs;
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {}); // resets are expected: the server may close on us mid-write
  const recorder = new Recorder(built);
  let lastActivity = Date.now();
  let closed = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    lastActivity = Date.now();
    wake?.();
  };
  socket.on('data', (chunk: Buffer) => {
    recorder.push(chunk);
    poke();
  });
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      poke();
      resolve();
    }),
  );
  /** Wait until `done()` holds, the socket closes, or `ms` pass. */
  const waitUntil = async (done: () => boolean, ms: number) => {
    const until = Math.min(deadline, Date.now() + ms);
    while (!done() && !closed && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, until - Date.now()));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };

  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });

  let chunkIndex = 0;
  let pauses = 0;
  for (const action of built.actions) {
    if (closed || Date.now() > deadline) break;
    if ('waitMs' in action) {
      const { stream, types } = action;
      if (stream === undefined) await sleep(action.waitMs);
      else await waitUntil(() => recorder.has(stream, types), action.waitMs);
      continue;
    }
    // at most MAX_CHUNKS pieces per write and MAX_PAUSES pauses per case: a 300 KiB body in
    // 1-byte chunks would take seconds and test nothing more than 64 pieces do
    const minimum = Math.ceil(action.write.length / MAX_CHUNKS);
    let at = 0;
    while (at < action.write.length && !closed) {
      const size = Math.max(minimum, shape.chunkSizes[chunkIndex % shape.chunkSizes.length]!);
      chunkIndex++;
      socket.write(action.write.subarray(at, at + size));
      at += size;
      if (shape.pauseEvery > 0 && chunkIndex % shape.pauseEvery === 0 && pauses++ < MAX_PAUSES) await sleep(chunkIndex % 3);
    }
  }
  // read what comes back until the server closes or falls quiet
  lastActivity = Date.now();
  while (!closed && Date.now() < deadline) {
    const idle = Date.now() - lastActivity;
    if (idle >= options.quietMs && !recorder.expectsClose) break;
    await waitUntil(() => false, recorder.expectsClose ? 50 : options.quietMs - idle);
  }
  const closedByServer = closed;
  if (recorder.expectsClose && !closed)
    recorder.violation('the server sent a connection error (ERROR on stream 0) but did not close the connection');
  if (!closed) {
    if (shape.leave === 'end') {
      socket.end();
      await Promise.race([closedPromise, sleep(300)]);
    }
    socket.destroy();
  }
  await closedPromise;
  recorder.finish(closedByServer);
  return { frames: recorder.frames, violations: recorder.violations, oversized: recorder.oversized, closedByServer };
}

/** Decodes and judges what the server sends. */
class Recorder {
  readonly frames: SeenFrame[] = [];
  readonly violations: string[] = [];
  readonly oversized: string[] = [];
  /** A connection error was received: the server must close and send nothing more. */
  expectsClose = false;
  private readonly decoder = new FrameDecoder(MAX_MAX_FRAME_SIZE);
  private decodeFailed = false;
  private helloSeen = false;
  private readonly finals = new Set<number>();
  private readonly downloads = new Map<number, { hash: Hash; bytes: number }>();

  constructor(private readonly built: BuiltCase) {}

  violation(message: string): void {
    if (this.violations.length < 20) this.violations.push(message);
  }

  has(stream: number, types?: readonly number[]): boolean {
    return this.frames.some((f) => f.stream === stream && (!types || types.includes(f.type)));
  }

  push(chunk: Buffer): void {
    if (this.decodeFailed) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.decodeFailed = true;
      this.violation(`the server sent bytes that do not decode: ${(err as Error).message}`);
      return;
    }
    for (const frame of frames) this.judge(frame.type, frame.stream, frame.body);
  }

  /** After a connection error the server closes gracefully: nothing may be cut off mid-frame. */
  finish(closedByServer: boolean): void {
    if (closedByServer && this.expectsClose && this.decoder.pendingBytes > 0 && !this.decodeFailed) {
      this.violation(`the server closed in the middle of a frame after its connection error (${this.decoder.pendingBytes} bytes pending)`);
    }
  }

  private judge(type: number, stream: number, body: Buffer): void {
    const name = `${frameTypeName(type)} on stream ${stream}`;
    const seen: { type: number; stream: number; length: number; json?: Record<string, unknown> } = {
      type,
      stream,
      length: body.length + LENGTH_OVERHEAD,
    };
    if (this.expectsClose) this.violation(`${name} after the connection error`);
    if (!SERVER_TYPES.has(type)) this.violation(`the server sent ${name}, a frame only a client sends`);
    const limit = this.helloSeen ? (this.built.announcedMaxFrameSize ?? DEFAULT_MAX_FRAME_SIZE) : DEFAULT_MAX_FRAME_SIZE;
    if (seen.length > limit)
      this.oversized.push(
        `${name}: length ${seen.length} > announced maxFrameSize ${limit} (${body.toString('utf8', 0, Math.min(body.length, 120))}...)`,
      );
    if (type === FrameType.HELLO) this.helloSeen = true;
    if (type !== FrameType.DATA && type !== FrameType.CREDIT && type !== FrameType.PONG) {
      try {
        const value: unknown = JSON.parse(body.toString('utf8'));
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
        seen.json = value as Record<string, unknown>;
      } catch {
        this.violation(`${name} has a body that is not a JSON object: ${body.toString('utf8').slice(0, 80)}`);
      }
    }
    if (type === FrameType.PONG && body.length > MAX_PING_BODY) this.violation(`PONG of ${body.length} bytes`);
    if (type === FrameType.CREDIT && body.length !== 4) this.violation(`CREDIT body of ${body.length} bytes`);
    if (type === FrameType.ERROR) this.judgeError(stream, seen.json);
    if (stream !== 0 && this.finals.has(stream) && type !== FrameType.PONG) this.violation(`${name} after the request's final frame`);
    if (type === FrameType.DATA) this.onData(stream, body);
    if ((type === FrameType.RESPONSE || type === FrameType.ERROR) && stream !== 0) {
      this.finals.add(stream);
      if (type === FrameType.RESPONSE && seen.json) this.judgeTotals(stream, seen.json);
    }
    this.frames.push(seen);
  }

  private judgeError(stream: number, json: Record<string, unknown> | undefined): void {
    if (!json) return;
    const { code, message } = json;
    if (typeof code !== 'string' || !ERROR_CODES.has(code as FileShareErrorCode))
      this.violation(`ERROR on stream ${stream} with undocumented code ${JSON.stringify(code)}`);
    if (typeof message !== 'string') this.violation(`ERROR on stream ${stream} without a message`);
    if (code === 'EIO') this.violation(`ERROR EIO on stream ${stream} (an internal server failure): ${String(message)}`);
    if (stream === 0) this.expectsClose = true;
  }

  private onData(stream: number, body: Buffer): void {
    let download = this.downloads.get(stream);
    if (!download) this.downloads.set(stream, (download = { hash: createHash('sha256'), bytes: 0 }));
    download.hash.update(body);
    download.bytes += body.length;
  }

  /**
   * A batch's answer has one result per file, in order: what was sent for a stored file, a
   * documented error (never EIO) for a refused one, and never success for a wrong digest.
   */
  private judgeBatch(stream: number, json: Record<string, unknown>, expected: Array<{ bytes: number; sha256: string } | undefined>): void {
    const results = json.results;
    if (!Array.isArray(results) || results.length !== expected.length) {
      this.violation(`upload-batch on stream ${stream} answered ${JSON.stringify(json)} for ${expected.length} files`);
      return;
    }
    results.forEach((result: unknown, i) => {
      const entry = (typeof result === 'object' && result !== null ? result : {}) as Record<string, unknown>;
      const error = entry.error as Record<string, unknown> | undefined;
      if (error !== undefined) {
        if (typeof error.code !== 'string' || !ERROR_CODES.has(error.code as FileShareErrorCode) || error.code === 'EIO')
          this.violation(`upload-batch on stream ${stream}, file ${i}: error ${JSON.stringify(error)}`);
        return;
      }
      const want = expected[i];
      if (want === undefined) this.violation(`upload-batch on stream ${stream}, file ${i}: stored although its digest was wrong`);
      else if (entry.bytes !== want.bytes || entry.sha256 !== want.sha256)
        this.violation(`upload-batch on stream ${stream}, file ${i}: answered ${JSON.stringify(entry)}, sent ${JSON.stringify(want)}`);
    });
  }

  /** `{ bytes, sha256 }` of an upload must be what we sent; of a download, what we received. */
  private judgeTotals(stream: number, json: Record<string, unknown>): void {
    const op = this.built.ops.get(stream);
    if (op === 'download') {
      const got = this.downloads.get(stream) ?? { hash: createHash('sha256'), bytes: 0 };
      const sha256 = got.hash.digest('hex');
      if (json.bytes !== got.bytes || json.sha256 !== sha256) {
        this.violation(
          `download on stream ${stream} answered ${JSON.stringify(json)} but ${got.bytes} bytes with SHA-256 ${sha256} arrived`,
        );
      }
    } else if (op === 'upload-batch' && this.built.batches.has(stream)) {
      this.judgeBatch(stream, json, this.built.batches.get(stream)!);
    } else if ((op === 'upload' || op === 'discard') && !this.built.unpredictable.has(stream)) {
      const parts = this.built.uploaded.get(stream) ?? [];
      const hash = createHash('sha256');
      for (const p of parts) hash.update(p);
      const bytes = parts.reduce((n, p) => n + p.length, 0);
      const sha256 = hash.digest('hex');
      if (json.bytes !== bytes || json.sha256 !== sha256) {
        this.violation(`${op} on stream ${stream} answered ${JSON.stringify(json)} but ${bytes} bytes with SHA-256 ${sha256} were sent`);
      }
    }
  }
}
