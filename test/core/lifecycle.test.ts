/** Timeouts, shutdown (GOAWAY, in-flight uploads), the plaintext warning, throwing listeners. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, FileShareServer, MemoryAuthProvider, type FileShareError } from '../../src/index.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import {
  RawClient,
  defer,
  dispose,
  failure,
  json,
  randomData,
  rejects,
  sha256,
  sleep,
  tempDir,
  tempFiles,
  testServer,
  waitFor,
  walk,
  within,
} from './helpers.ts';

test.after.each(dispose);

/** An endless source of 64 KiB chunks; `produced` counts what was read. */
function endless(): Readable & { produced: number } {
  const block = randomData(64 * 1024);
  const r = new Readable({
    read() {
      r.produced += block.length;
      this.push(block);
    },
  }) as Readable & { produced: number };
  r.produced = 0;
  return r;
}

/** A source of `total` bytes, delivered slowly (one 64 KiB chunk per `delayMs`). */
function slow(total: number, delayMs: number): Readable {
  const block = randomData(64 * 1024);
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, block.length);
      left -= n;
      setTimeout(() => this.push(block.subarray(0, n)), delayMs);
    },
  });
}

function closeEvent(client: FileShareClient): Promise<FileShareError | undefined> {
  return new Promise((resolve) => client.once('close', resolve));
}

test('an idle logged-in client is disconnected after idleTimeout; the client close event fires', async () => {
  const t = await testServer({ server: { idleTimeout: 300 } });
  const client = await t.connect();
  const error = await within(closeEvent(client), 3000, 'the close event');
  assert.is(error?.code, 'ETIMEDOUT');
  assert.not.ok(client.connected);
  await rejects(client.stat('/'), 'ETIMEDOUT');
});

test('a connection that completed its HELLO outlives handshakeTimeout', async () => {
  const t = await testServer({ server: { handshakeTimeout: 500 } });
  const client = await t.connect();
  await sleep(800);
  assert.ok(client.connected);
  await client.stat('/');
});

test('pings keep a connection from being idle, and so does a transfer in progress', async () => {
  // margins are wide: on a loaded machine the event loop can stall for a few hundred ms
  const t = await testServer({ server: { idleTimeout: 1000 } });
  const client = await t.connect();
  for (let i = 0; i < 15; i++) {
    await client.ping();
    await sleep(100);
  }
  assert.ok(client.connected);
  // a slow upload (~2 s) with no other traffic: the data it sends counts as activity
  const result = await within(client.upload(slow(2 * 1024 * 1024, 60), '/slow.bin'), 10_000, 'the slow upload');
  assert.is(result.bytes, 2 * 1024 * 1024);
  assert.ok(client.connected);
});

test('server.close() while a client is mid-upload: a short upload completes, nothing partial remains', async () => {
  const t = await testServer();
  const client = await t.connect();
  const goaway: string[] = [];
  client.on('goaway', ({ message }) => goaway.push(message));
  const data = randomData(2 * 1024 * 1024);
  const source = Readable.from(
    (async function* () {
      for (let i = 0; i < data.length; i += 64 * 1024) {
        await sleep(5);
        yield data.subarray(i, i + 64 * 1024);
      }
    })(),
  );
  const upload = client.upload(source, '/during-close.bin').then(
    (r) => r,
    (e: FileShareError) => e,
  );
  await waitFor(async () => (await tempFiles(t.root)).length === 1, 5000, 'the upload to start');
  const closed = t.server.close();
  const outcome = await within(upload, 10_000, 'the upload');
  await within(closed, 10_000, 'server.close()');
  if ('sha256' in outcome) {
    assert.is(outcome.sha256, sha256(data));
    assert.ok((await fsp.readFile(path.join(t.root, 'during-close.bin'))).equals(data));
  } else {
    assert.ok(outcome.code === 'ECLOSED' || outcome.code === 'EABORTED', outcome.code);
    assert.not.ok(await fsp.stat(path.join(t.root, 'during-close.bin')).catch(() => null));
  }
  assert.equal(await tempFiles(t.root), []);
  assert.equal(goaway.length, 1);
});

test('server.close() cuts off an upload that outlasts closeTimeout: it fails cleanly, no partial or temp file', async () => {
  const t = await testServer({ server: { closeTimeout: 300 } });
  const client = await t.connect();
  const source = endless();
  const upload = client.upload(source, '/never.bin').then(
    () => assert.unreachable('the upload cannot complete') as never,
    (e: FileShareError) => e,
  );
  await waitFor(async () => (await tempFiles(t.root)).length === 1 && source.produced > 1024 * 1024, 5000, 'the upload to be under way');
  await within(t.server.close(), 5000, 'server.close()');
  const err = await within(upload, 5000, 'the upload');
  assert.ok(err.code === 'ECLOSED' || err.code === 'EABORTED', err.code);
  assert.equal(await walk(t.root), []);
  assert.not.ok(client.connected);
});

test('server.close() while a client is mid-download into a slow Writable: it fails cleanly', async () => {
  const t = await testServer({ server: { closeTimeout: 300 } });
  await fsp.writeFile(path.join(t.root, 'big.bin'), Buffer.alloc(16 * 1024 * 1024, 1));
  const client = await t.connect();
  let got = 0;
  const slowSink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got += chunk.length;
      setTimeout(cb, 30); // ~64 writes: far longer than closeTimeout
    },
  });
  const download = failure(client.download('/big.bin', slowSink));
  await waitFor(() => got > 0, 5000, 'the download to start');
  await within(t.server.close(), 5000, 'server.close()');
  const err = await within(download, 5000, 'the download');
  assert.ok(err.code === 'ECLOSED' || err.code === 'EABORTED', err.code);
});

test('server.close() while a client is mid-download to a local path: complete file or no file', async () => {
  const t = await testServer({ server: { closeTimeout: 0 } });
  await fsp.writeFile(path.join(t.root, 'big.bin'), Buffer.alloc(64 * 1024 * 1024, 2));
  const local = await tempDir();
  const client = await t.client({ progressIntervalMs: 0 });
  await client.login('alice', 'alice-password');
  let started: () => void = () => {};
  const begun = new Promise<void>((resolve) => (started = resolve));
  const download = client.download('/big.bin', path.join(local, 'big.bin'), { onProgress: () => started() }).then(
    (r) => r,
    (e: FileShareError) => e,
  );
  await within(begun, 5000, 'the download to start');
  await within(t.server.close(), 5000, 'server.close()');
  const outcome = await within(download, 5000, 'the download');
  if ('code' in outcome) {
    assert.ok(outcome.code === 'ECLOSED' || outcome.code === 'EABORTED', outcome.code);
    assert.equal(await walk(local), []);
  } else {
    assert.equal(await walk(local), ['big.bin']);
    assert.is((await fsp.stat(path.join(local, 'big.bin'))).size, 64 * 1024 * 1024);
  }
});

test('GOAWAY: after close() begins, new requests fail with ECLOSED, in-flight ones may finish', async () => {
  const t = await testServer({ server: { closeTimeout: 5000 } });
  const client = await t.connect();
  const goaway = new Promise<string>((resolve) => client.once('goaway', ({ message }) => resolve(message)));
  const upload = client.upload(slow(1024 * 1024, 20), '/inflight.bin');
  await waitFor(async () => (await tempFiles(t.root)).length === 1, 5000, 'the upload to start');
  const closed = t.server.close();
  await within(goaway, 3000, 'the goaway event');
  await rejects(client.list('/'), 'ECLOSED');
  await rejects(client.ping(), 'ECLOSED');
  // a new connection is refused while shutting down
  const late = new FileShareClient({ host: '127.0.0.1', port: t.port, connectTimeout: 2000 });
  defer(() => late.close());
  await rejects(late.connect(), 'ECLOSED');
  const result = await within(upload, 10_000, 'the in-flight upload');
  assert.is(result.bytes, 1024 * 1024);
  await within(closed, 10_000, 'server.close()');
  assert.not.ok(client.connected);
});

test('GOAWAY on the wire: the server refuses a REQUEST sent after it with ERROR ECLOSED', async () => {
  const t = await testServer({ server: { closeTimeout: 3000 } });
  const raw = await RawClient.connect(t.port);
  await raw.hello();
  raw.request(1, { op: 'login', username: 'alice', password: 'alice-password' });
  await raw.next((f) => f.stream === 1 && f.type === FrameType.RESPONSE);
  raw.request(2, { op: 'upload', path: '/held-open' }); // keeps the session open during shutdown
  await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  const closed = t.server.close();
  await raw.next((f) => f.type === FrameType.GOAWAY && f.stream === 0);
  raw.request(3, { op: 'list', path: '/' });
  assert.is(json(await raw.next((f) => f.stream === 3 && f.type === FrameType.ERROR)).code, 'ECLOSED');
  raw.write((await import('../../src/protocol/encoder.ts')).encodeFrame(FrameType.CANCEL, 2));
  assert.is(json(await raw.next((f) => f.stream === 2 && f.type === FrameType.ERROR)).code, 'EABORTED');
  await raw.waitClosed(3000);
  await within(closed, 5000, 'server.close()');
  assert.equal(await walk(t.root), []);
});

test('server.close() with idle clients resolves promptly and closes them; close() twice is fine', async () => {
  const t = await testServer();
  const a = await t.connect();
  const b = await t.client();
  const closes = [closeEvent(a), closeEvent(b)];
  await within(Promise.all([t.server.close(), t.server.close()]), 3000, 'server.close()');
  await within(Promise.all(closes), 3000, 'the clients to see the close');
  await rejects(t.server.listen(), 'ECLOSED');
});

async function bareServer(host: string, extra: Partial<ConstructorParameters<typeof FileShareServer>[0]> = {}) {
  const root = await tempDir();
  const server = new FileShareServer({ root, auth: new MemoryAuthProvider({ users: {} }), host, port: 0, ...extra });
  defer(() => server.close());
  return server;
}

test('listen() on a port in use rejects; once the port is free the same server can listen', async () => {
  const t = await testServer();
  const root = await tempDir();
  const server = new FileShareServer({ root, auth: new MemoryAuthProvider({ users: {} }), host: '127.0.0.1', port: t.port });
  defer(() => server.close());
  try {
    await server.listen();
    assert.unreachable('the port is taken');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'EADDRINUSE');
  }
  await t.server.close();
  assert.is((await server.listen()).port, t.port);
  await within(server.close(), 3000, 'close()');
});

test('the server warns when listening on 0.0.0.0 without TLS, and not on 127.0.0.1', async () => {
  const open = await bareServer('0.0.0.0');
  const warnings: string[] = [];
  open.on('warning', (w) => warnings.push(w.code));
  await open.listen();
  assert.equal(warnings, ['FILESHARE_PLAINTEXT']);
  const local = await bareServer('127.0.0.1');
  const none: string[] = [];
  local.on('warning', (w) => none.push(w.code));
  await local.listen();
  assert.equal(none, []);
});

test('without a warning listener the advice goes to process.emitWarning', async () => {
  const server = await bareServer('0.0.0.0');
  const seen: Array<{ code?: string }> = [];
  const onWarning = (w: Error & { code?: string }) => seen.push(w);
  process.on('warning', onWarning);
  defer(() => process.off('warning', onWarning));
  await server.listen();
  await waitFor(() => seen.some((w) => w.code === 'FILESHARE_PLAINTEXT'), 2000, 'the process warning');
});

test('listeners that throw in server events, client events and metrics break nothing', async () => {
  const t = await testServer();
  const errors: Error[] = [];
  t.server.on('error', (e) => errors.push(e));
  const boom = () => {
    throw new Error('listener bug');
  };
  for (const event of [
    'connection',
    'login',
    'loginFailed',
    'upload',
    'download',
    'mkdir',
    'delete',
    'rename',
    'requestFailed',
    'disconnect',
  ] as const) {
    t.server.on(event, boom);
  }
  t.server.metrics.on('progress', boom);
  t.server.metrics.on('transfer', boom);
  const client = await t.client({ progressIntervalMs: 0 });
  client.on('close', boom);
  client.metrics.on('ping', boom);
  client.metrics.on('progress', boom);
  client.metrics.on('transfer', boom);
  await rejects(client.login('alice', 'wrong'), 'EAUTH');
  await client.login('alice', 'alice-password');
  assert.ok((await client.ping()) >= 0);
  const data = randomData(3 * 1024 * 1024);
  const up = await within(client.upload(Readable.from([data]), '/f.bin', { onProgress: boom }), 10_000, 'the upload');
  assert.is(up.sha256, sha256(data));
  const chunks: Buffer[] = [];
  const sink = new (await import('node:stream')).PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  const down = await within(client.download('/f.bin', sink, { onProgress: boom }), 10_000, 'the download');
  assert.is(down.sha256, sha256(data));
  assert.ok(Buffer.concat(chunks).equals(data));
  await client.mkdir('/d');
  await client.rename('/d', '/e');
  await client.delete('/f.bin');
  await rejects(client.stat('/missing'), 'ENOENT');
  await client.close();
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the disconnect');
  assert.ok(errors.length > 0, 'listener failures are reported as server errors');
  assert.ok(errors.every((e) => e instanceof Error));
});

test('the client close event fires once for close(), with no error', async () => {
  const t = await testServer();
  const client = await t.connect();
  const events: Array<FileShareError | undefined> = [];
  client.on('close', (e) => events.push(e));
  await client.close();
  await client.close();
  await sleep(50);
  assert.is(events.length, 1);
});

test.run();
