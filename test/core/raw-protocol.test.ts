/**
 * Hostile and broken peers: hand-built frames over a bare socket. After each, a healthy
 * FileShareClient on the same server must still work.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCredit, encodeData, encodeFrame, encodeHeader, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import type { TestServer } from '../../src/testing/index.ts';
import { RawClient, dispose, helloBody, json, rejects, sha256, testServer, waitFor, walk } from './helpers.ts';

test.after.each(dispose);

/** A healthy client still gets served. */
async function healthy(t: TestServer): Promise<void> {
  const client = await t.connect();
  await client.upload((await import('node:stream')).Readable.from([Buffer.from('ok')]), `/healthy-${Date.now()}-${Math.random()}`);
  assert.ok((await client.list('/')).length >= 1);
  await client.ping();
  await client.close();
}

/** The connection error the server sends before closing: code EPROTO. */
async function expectProtocolError(raw: RawClient): Promise<{ code: string; message: string }> {
  const error = await raw.connectionError();
  assert.is(error.code, 'EPROTO');
  await raw.waitClosed();
  return error;
}

/** A raw connection that completed HELLO and logged in as alice (request id 1). */
async function loggedIn(t: TestServer): Promise<RawClient> {
  const raw = await RawClient.connect(t.port);
  await raw.hello();
  raw.request(1, { op: 'login', username: 'alice', password: 'alice-password' });
  const answer = await raw.next((f) => f.stream === 1 && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR));
  assert.is(answer.type, FrameType.RESPONSE, `login failed: ${answer.body.toString()}`);
  return raw;
}

test('garbage bytes (an HTTP request) get ERROR EPROTO on stream 0, then close', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'));
  await expectProtocolError(raw);
  await healthy(t);
});

test('an oversized length prefix is refused before the body arrives', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  raw.write(encodeHeader(FrameType.HELLO, 0, 0xffffffff - 5)); // only the header: no body will ever come
  await expectProtocolError(raw);
  const raw2 = await RawClient.connect(t.port);
  await raw2.hello();
  raw2.write(encodeHeader(FrameType.DATA, 1, 2 * 1024 * 1024));
  await expectProtocolError(raw2);
  await healthy(t);
});

test('a length below 5 and an unknown frame type are EPROTO', async () => {
  const t = await testServer();
  const short = await RawClient.connect(t.port);
  short.write(Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]));
  await expectProtocolError(short);
  const unknown = await RawClient.connect(t.port);
  await unknown.hello();
  const frame = encodeFrame(FrameType.PING, 1, Buffer.alloc(4));
  frame.writeUInt8(99, 4);
  unknown.write(frame);
  await expectProtocolError(unknown);
  const zero = await RawClient.connect(t.port);
  const zeroType = encodeFrame(FrameType.PING, 1);
  zeroType.writeUInt8(0, 4);
  zero.write(zeroType);
  await expectProtocolError(zero);
  await healthy(t);
});

test('a truncated frame followed by the end of the stream closes the connection quietly', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  const hello = encodeJsonFrame(FrameType.HELLO, 0, helloBody());
  raw.socket.end(hello.subarray(0, hello.length - 7));
  await raw.waitClosed();
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the session to go');
  await healthy(t);
});

test('a truncated frame on an open socket is cut off by the handshake timeout', async () => {
  const t = await testServer({ server: { handshakeTimeout: 300 } });
  const raw = await RawClient.connect(t.port);
  const hello = encodeJsonFrame(FrameType.HELLO, 0, helloBody());
  raw.write(hello.subarray(0, 12));
  const error = await raw.connectionError(3000);
  assert.is(error.code, 'ETIMEDOUT');
  await raw.waitClosed();
  await healthy(t);
});

test('REQUEST before HELLO is EPROTO', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  raw.request(1, { op: 'login', username: 'alice', password: 'alice-password' });
  await expectProtocolError(raw);
  await healthy(t);
});

test('PING before HELLO is answered', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  raw.write(encodeFrame(FrameType.PING, 7, Buffer.from('abc')));
  const pong = await raw.next((f) => f.type === FrameType.PONG);
  assert.is(pong.stream, 7);
  assert.is(pong.body.toString(), 'abc');
});

test('a HELLO with major version 2 gets ERROR EPROTO on stream 0 naming both versions, then close', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  raw.write(encodeJsonFrame(FrameType.HELLO, 0, helloBody([2, 3])));
  const error = await expectProtocolError(raw);
  assert.ok(error.message.includes('2.3') && error.message.includes('1.0'), error.message);
  assert.not.ok(
    raw.frames.some((f) => f.type === FrameType.HELLO),
    'no HELLO in answer to a wrong version',
  );
  await healthy(t);
});

test('a HELLO that is not JSON, names another protocol or has bad limits is EPROTO', async () => {
  const t = await testServer();
  for (const body of [
    Buffer.from('not json'),
    Buffer.from('[1,0]'),
    Buffer.from(JSON.stringify(helloBody([1, 0], { protocol: 'ftp' }))),
    Buffer.from(JSON.stringify(helloBody([1, 0], { maxFrameSize: 10 }))),
    Buffer.from(JSON.stringify(helloBody([1, 0], { window: -1 }))),
  ]) {
    const raw = await RawClient.connect(t.port);
    raw.write(encodeFrame(FrameType.HELLO, 0, body));
    await expectProtocolError(raw);
  }
  await healthy(t);
});

test('a second HELLO, or a frame only the server sends, is EPROTO', async () => {
  const t = await testServer();
  const twice = await RawClient.connect(t.port);
  await twice.hello();
  twice.write(encodeJsonFrame(FrameType.HELLO, 0, helloBody()));
  await expectProtocolError(twice);
  const pong = await RawClient.connect(t.port);
  await pong.hello();
  pong.write(encodeFrame(FrameType.PONG, 1));
  await expectProtocolError(pong);
  await healthy(t);
});

test('an oversized PING body is EPROTO', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  await raw.hello();
  raw.write(encodeFrame(FrameType.PING, 1, Buffer.alloc(65)));
  await expectProtocolError(raw);
});

test('request ids must increase; frames for streams never opened are EPROTO', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  await raw.hello();
  raw.request(5, { op: 'list', path: '/' });
  await raw.next((f) => f.stream === 5 && f.type === FrameType.ERROR);
  raw.request(5, { op: 'list', path: '/' });
  await expectProtocolError(raw);
  const stray = await RawClient.connect(t.port);
  await stray.hello();
  stray.write(encodeCredit(9, 100));
  await expectProtocolError(stray);
  await healthy(t);
});

test('an unknown operation or a body that is not JSON is a request error; the connection stays usable', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  await raw.hello();
  raw.request(1, { op: 'format-disk' });
  assert.is(json(await raw.next((f) => f.stream === 1 && f.type === FrameType.ERROR)).code, 'EPROTO');
  raw.write(encodeFrame(FrameType.REQUEST, 2, Buffer.from('{oops')));
  assert.is(json(await raw.next((f) => f.stream === 2 && f.type === FrameType.ERROR)).code, 'EPROTO');
  raw.request(3, { op: 'toString' });
  assert.is(json(await raw.next((f) => f.stream === 3 && f.type === FrameType.ERROR)).code, 'EPROTO');
  raw.request(4, { op: 'list', path: '/' });
  assert.is(json(await raw.next((f) => f.stream === 4 && f.type === FrameType.ERROR)).code, 'ENOTAUTH');
  raw.write(encodeFrame(FrameType.PING, 1, Buffer.from('x')));
  await raw.next((f) => f.type === FrameType.PONG);
  assert.not.ok(raw.closed);
});

test('an END whose SHA-256 does not match is ERROR EINTEGRITY; the target does not exist', async () => {
  const t = await testServer();
  const raw = await loggedIn(t);
  const data = Buffer.from('hello world');
  raw.request(2, { op: 'upload', path: '/bad.txt', size: data.length });
  assert.equal(json(await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL)), { offset: 0 });
  raw.write(encodeData(2, data));
  raw.write(encodeJsonFrame(FrameType.END, 2, { bytes: data.length, sha256: sha256('something else') }));
  const error = await raw.next((f) => f.stream === 2 && (f.type === FrameType.ERROR || f.type === FrameType.RESPONSE));
  assert.is(error.type, FrameType.ERROR);
  assert.is(json(error).code, 'EINTEGRITY');
  await waitFor(async () => (await walk(t.root)).length === 0, 3000, 'the temp file to go');
  // a wrong byte count too
  raw.request(3, { op: 'upload', path: '/bad2.txt' });
  await raw.next((f) => f.stream === 3 && f.type === FrameType.PARTIAL);
  raw.write(encodeData(3, data));
  raw.write(encodeJsonFrame(FrameType.END, 3, { bytes: data.length + 1, sha256: sha256(data) }));
  assert.is(json(await raw.next((f) => f.stream === 3 && f.type === FrameType.ERROR)).code, 'EINTEGRITY');
  // the right hash is accepted on the same connection
  raw.request(4, { op: 'upload', path: '/good.txt' });
  await raw.next((f) => f.stream === 4 && f.type === FrameType.PARTIAL);
  raw.write(encodeData(4, data));
  raw.write(encodeJsonFrame(FrameType.END, 4, { bytes: data.length, sha256: sha256(data) }));
  assert.equal(json(await raw.next((f) => f.stream === 4 && f.type === FrameType.RESPONSE)), { bytes: data.length, sha256: sha256(data) });
  await waitFor(async () => (await walk(t.root)).join() === 'good.txt', 3000, 'only good.txt');
  assert.is(await fsp.readFile(path.join(t.root, 'good.txt'), 'utf8'), 'hello world');
});

test('DATA or END on a stream that is not receiving (a download) is EPROTO', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'big.bin'), Buffer.alloc(4 * 1024 * 1024));
  for (const frame of [encodeData(2, Buffer.from('x')), [encodeJsonFrame(FrameType.END, 2, { bytes: 0, sha256: sha256('') })]]) {
    const raw = await loggedIn(t);
    // the download stalls once it has used the 1 MiB window of our HELLO: it is still open below
    raw.request(2, { op: 'download', path: '/big.bin' });
    await raw.next((f) => f.stream === 2 && f.type === FrameType.DATA);
    raw.write(frame);
    await expectProtocolError(raw);
  }
  await healthy(t);
});

test('DATA beyond the granted credit is a flow-control violation: connection error EPROTO', async () => {
  const t = await testServer({ server: { window: 4096, chunkSize: 1024 } });
  const raw = await loggedIn(t);
  raw.request(2, { op: 'upload', path: '/flood.bin' });
  await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  raw.write(encodeData(2, Buffer.alloc(4096))); // exactly the window: fine
  // at most one CREDIT (for those 4096 bytes) can have been granted since: this is beyond it
  raw.write(encodeData(2, Buffer.alloc(64 * 1024)));
  const error = await expectProtocolError(raw);
  assert.ok(error.message.length > 0);
  await waitFor(async () => (await walk(t.root)).length === 0, 3000, 'the temp file to go');
  await healthy(t);
});

test("a request too large for the server's frame limit is refused by the client, not sent: other transfers go on", async () => {
  const t = await testServer({ server: { maxFrameSize: 8192 } });
  const client = await t.connect();
  const data = Buffer.alloc(2 * 1024 * 1024, 7);
  const upload = client.upload((await import('node:stream')).Readable.from([data]), '/during.bin');
  await rejects(client.stat(`/${'a'.repeat(200)}/`.repeat(50)), 'EINVAL');
  assert.is((await upload).sha256, sha256(data));
  assert.ok(client.connected);
});

test('CANCEL of a download in progress is answered ERROR EABORTED; the connection goes on', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'big.bin'), Buffer.alloc(4 * 1024 * 1024));
  const raw = await loggedIn(t);
  raw.request(2, { op: 'download', path: '/big.bin' });
  const head = json(await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL));
  assert.is(head.size, 4 * 1024 * 1024);
  await raw.next((f) => f.stream === 2 && f.type === FrameType.DATA);
  raw.write(encodeFrame(FrameType.CANCEL, 2));
  assert.is(json(await raw.next((f) => f.stream === 2 && f.type === FrameType.ERROR)).code, 'EABORTED');
  raw.request(3, { op: 'stat', path: '/big.bin' });
  assert.is(json(await raw.next((f) => f.stream === 3 && f.type === FrameType.RESPONSE)).size, 4 * 1024 * 1024);
});

test('maxRequestsInFlight: one more request is EBUSY; the connection stays usable', async () => {
  const t = await testServer({ server: { maxRequestsInFlight: 2 } });
  const raw = await loggedIn(t);
  raw.request(2, { op: 'upload', path: '/a' });
  raw.request(3, { op: 'upload', path: '/b' });
  await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  await raw.next((f) => f.stream === 3 && f.type === FrameType.PARTIAL);
  raw.request(4, { op: 'list', path: '/' });
  assert.is(json(await raw.next((f) => f.stream === 4 && f.type === FrameType.ERROR)).code, 'EBUSY');
  raw.write(encodeFrame(FrameType.CANCEL, 2));
  assert.is(json(await raw.next((f) => f.stream === 2 && f.type === FrameType.ERROR)).code, 'EABORTED');
  raw.request(5, { op: 'list', path: '/' });
  assert.equal(json(await raw.next((f) => f.stream === 5 && f.type === FrameType.RESPONSE)), { count: 0 });
  raw.write(encodeFrame(FrameType.CANCEL, 3));
  await raw.next((f) => f.stream === 3 && f.type === FrameType.ERROR);
  await waitFor(async () => (await walk(t.root)).length === 0, 3000, 'the temp files to go');
});

test('maxRequestsInFlight with the real client: excess concurrent requests fail EBUSY, the rest succeed', async () => {
  const t = await testServer({ server: { maxRequestsInFlight: 2 } });
  const client = await t.connect();
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => client.stat('/')));
  const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code));
  assert.ok(codes.includes('ok'));
  assert.ok(
    codes.every((c) => c === 'ok' || c === 'EBUSY'),
    codes.join(),
  );
  await client.stat('/');
});

test('a CANCEL of a finished request, and CREDIT for it, are ignored', async () => {
  const t = await testServer();
  const raw = await loggedIn(t);
  raw.write(encodeFrame(FrameType.CANCEL, 1));
  raw.write(encodeCredit(1, 1000));
  raw.request(2, { op: 'stat', path: '/' });
  await raw.next((f) => f.stream === 2 && f.type === FrameType.RESPONSE);
  assert.not.ok(raw.closed);
});

test.run();
