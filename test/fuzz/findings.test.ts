/**
 * What the fuzzers (decoder.fuzz.test.ts, server.fuzz.test.ts) found, kept as small deterministic
 * regression tests: a fuzzer finds a bug again only by chance, these every time. Each asserts the
 * correct behaviour, so a failure here is a bug, not a flaky fuzz run. Run alone with
 * `node --import tsx node_modules/uvu/bin.js test/fuzz findings`.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, FileShareError } from '../../src/index.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeFrame, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import { createTestServer, type TestServer } from '../../src/testing/index.ts';
import { PASSWORD, USERNAME, validHello } from './wire-cases.ts';

const cleanups: Array<() => Promise<unknown>> = [];
test.after.each(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
});

async function server(): Promise<{ t: TestServer; errors: Error[] }> {
  const t = await createTestServer({ users: { [USERNAME]: PASSWORD }, server: { loginThrottle: false } });
  cleanups.push(() => t.close());
  const errors: Error[] = [];
  t.server.on('error', (err) => errors.push(err));
  return { t, errors };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A bare socket that collects decoded frames. */
async function raw(
  port: number,
): Promise<{ socket: net.Socket; frames: Frame[]; next: (match: (f: Frame) => boolean, ms?: number) => Promise<Frame | undefined> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  cleanups.push(async () => socket.destroy());
  const decoder = new FrameDecoder(16 * 1024 * 1024);
  const frames: Frame[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) frames.push({ ...f, body: Buffer.from(f.body) });
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  const next = async (match: (f: Frame) => boolean, ms = 3000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const found = frames.find(match);
      if (found) return found;
      await sleep(5);
    }
    return undefined;
  };
  return { socket, frames, next };
}

/** HELLO and login as alice on stream 1. */
async function loggedIn(port: number) {
  const r = await raw(port);
  r.socket.write(encodeJsonFrame(FrameType.HELLO, 0, validHello()));
  r.socket.write(encodeJsonFrame(FrameType.REQUEST, 1, { op: 'login', username: USERNAME, password: PASSWORD }));
  const answer = await r.next((f) => f.stream === 1 && f.type === FrameType.RESPONSE, 5000);
  assert.ok(answer, 'login');
  return r;
}

const json = (f: Frame | undefined) => (f ? (JSON.parse(f.body.toString('utf8')) as Record<string, unknown>) : undefined);

for (const op of ['discard', 'upload'] as const) {
  test(`DATA after END on a ${op} is a client error, never an internal failure (EIO, server 'error' event)`, async () => {
    // Found by the server fuzzer. After HELLO and login: REQUEST 2 {"op":"discard"} (or upload),
    // wait for PARTIAL {"offset":0}, then in one write DATA 2 "hello", END 2 {"bytes":5,"sha256":
    // <of "hello">}, DATA 2 "x". The late DATA reached the sink after end(): the discard failed
    // with ERR_STREAM_WRITE_AFTER_END, answered EIO and reported as a server 'error' (the upload
    // was answered EINTEGRITY for data that matched its END).
    const { t, errors } = await server();
    const r = await loggedIn(t.port);
    r.socket.write(encodeJsonFrame(FrameType.REQUEST, 2, op === 'discard' ? { op } : { op, path: '/after-end.txt' }));
    assert.ok(await r.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL), 'go-ahead');
    const data = Buffer.from('hello');
    r.socket.write(
      Buffer.concat([
        encodeFrame(FrameType.DATA, 2, data),
        encodeJsonFrame(FrameType.END, 2, { bytes: data.length, sha256: sha256(data) }),
        encodeFrame(FrameType.DATA, 2, Buffer.from('x')),
      ]),
    );
    const answer = await r.next(
      (f) =>
        (f.stream === 2 && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR)) || (f.stream === 0 && f.type === FrameType.ERROR),
    );
    await sleep(50);
    assert.ok(answer, 'an answer: the final frame of the request, or a connection error');
    assert.is.not(json(answer)?.code, 'EIO', `answered ${answer?.body.toString()}`);
    assert.equal(
      errors.map((e) => e.message),
      [],
      "the server reported an internal failure ('error' event)",
    );
    r.socket.destroy();
    await waitForNoSessions(t);
    assert.equal(
      (await fsp.readdir(t.root)).filter((n) => n.startsWith('.fileshare-part-')),
      [],
      'no temp file left',
    );
  });
}

async function waitForNoSessions(t: TestServer): Promise<void> {
  const deadline = Date.now() + 3000;
  while (t.server.connectionCount > 0 && Date.now() < deadline) await sleep(10);
}

test("a listing is cut into PARTIAL frames within the client's maxFrameSize (docs/protocol.md §2)", async () => {
  // Found by the server fuzzer (a fuzzed HELLO with a small maxFrameSize). A client with
  // maxFrameSize 4096 (its smallest setting) lists a folder of 40 entries with 110-character
  // names: the server sent them in one PARTIAL of about 6.7 KB (batches of 500 entries whatever
  // the peer accepts), and the client dropped the connection (EPROTO).
  const { t } = await server();
  await fsp.mkdir(path.join(t.root, 'many'));
  for (let i = 0; i < 40; i++)
    await fsp.writeFile(path.join(t.root, 'many', `entry-${String(i).padStart(3, '0')}-${'n'.repeat(100)}`), 'x');
  const client = new FileShareClient({ host: '127.0.0.1', port: t.port, maxFrameSize: 4096 });
  cleanups.push(() => client.close());
  await client.connect();
  await client.login(USERNAME, PASSWORD);
  assert.is((await client.list('/many')).length, 40);
});

test("an ERROR that quotes a long path still fits the client's maxFrameSize (docs/protocol.md §2)", async () => {
  // Found by the server fuzzer. stat of a missing path of 4,095 bytes (legal: under 4096 bytes
  // and 128 components) from a client with maxFrameSize 4096: the ENOENT message quoted the whole path, so
  // the ERROR frame was 4,154 bytes, and the client lost the connection instead of getting ENOENT.
  const { t } = await server();
  const client = new FileShareClient({ host: '127.0.0.1', port: t.port, maxFrameSize: 4096 });
  cleanups.push(() => client.close());
  await client.connect();
  await client.login(USERNAME, PASSWORD);
  const missing = `/${'d'.repeat(31)}`.repeat(127) + `/${'d'.repeat(30)}`;
  assert.is(Buffer.byteLength(missing), 4095);
  try {
    await client.stat(missing);
    assert.unreachable('stat of a missing path succeeded');
  } catch (err) {
    assert.instance(err, FileShareError);
    assert.is((err as FileShareError).code, 'ENOENT', `got ${(err as FileShareError).code}: ${(err as Error).message}`);
  }
  await client.stat('/');
});

test('logins queued by a client that has gone do not hold up everyone else', async () => {
  // Found while timing the server fuzzer. One connection sends HELLO and 64 REQUEST
  // {"op":"login"} (ids 1..64, other names, wrong passwords), then disconnects at once. Every one
  // of them still ran its bcrypt check in the process-wide lane (~80 ms each, more on a busy
  // machine), so a real user's login waited 5 s behind them (4 such connections: 20 s).
  const { t } = await server();
  const baseline = Date.now();
  const first = await t.connect();
  const baselineMs = Date.now() - baseline;
  await first.close();
  const r = await raw(t.port);
  r.socket.write(encodeJsonFrame(FrameType.HELLO, 0, validHello()));
  for (let id = 1; id <= 64; id++)
    r.socket.write(encodeJsonFrame(FrameType.REQUEST, id, { op: 'login', username: `user-${id}`, password: 'wrong' }));
  await r.next((f) => f.type === FrameType.HELLO);
  await sleep(20);
  r.socket.destroy();
  const started = Date.now();
  const client = await t.connect();
  const ms = Date.now() - started;
  await client.close();
  assert.ok(ms < Math.max(2000, 10 * baselineMs), `a login took ${ms} ms behind the abandoned ones (alone: ${baselineMs} ms)`);
});

test.run();
