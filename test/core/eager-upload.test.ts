/**
 * Eager uploads (docs/protocol.md §4): a new upload's first bytes, and for a small file its END,
 * follow the REQUEST before the go-ahead, within the allowance of the server's HELLO. Hand-built
 * frames show what the server does with them (held, written, or dropped with the same error as
 * without them); a fake server shows what the client sends; the real client does the rest.
 */
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeData, encodeFrame, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import type { TestServer } from '../../src/testing/index.ts';
import {
  RawClient,
  defer,
  dispose,
  helloBody,
  rejects,
  sha256,
  tempDir,
  tempFiles,
  testServer,
  waitFor,
  walk,
  within,
  json,
  loggedIn,
  answer,
} from './helpers.ts';

test.after.each(dispose);

/** Frames in one socket write (so the server decodes them in one go). */
function oneWrite(raw: RawClient, frames: Array<Buffer | Buffer[]>): void {
  raw.socket.write(Buffer.concat(frames.flat()));
}

/** REQUEST, DATA and END of a whole upload in one write, before any go-ahead. */
function eagerUpload(raw: RawClient, id: number, args: Record<string, unknown>, data: Buffer, end = true): void {
  const frames: Array<Buffer | Buffer[]> = [encodeJsonFrame(FrameType.REQUEST, id, { op: 'upload', size: data.length, ...args })];
  if (data.length > 0) frames.push(encodeData(id, data));
  if (end) frames.push(encodeJsonFrame(FrameType.END, id, { bytes: data.length, sha256: sha256(data) }));
  oneWrite(raw, frames);
}

/** A plain upload (waiting for the go-ahead, as a 1.0 client does) works on the connection. */
async function plainUploadWorks(raw: RawClient, t: TestServer, id: number): Promise<void> {
  const data = Buffer.from(`after ${id}`);
  raw.request(id, { op: 'upload', path: `/after-${id}.txt`, size: data.length });
  assert.equal(json(await raw.next((f) => f.stream === id && f.type === FrameType.PARTIAL)), { offset: 0 });
  oneWrite(raw, [encodeData(id, data), encodeJsonFrame(FrameType.END, id, { bytes: data.length, sha256: sha256(data) })]);
  const final = await answer(raw, id);
  assert.is(final.type, FrameType.RESPONSE, final.body.toString());
  assert.equal(await fsp.readFile(path.join(t.root, `after-${id}.txt`)), data);
}

test('the HELLO announces the allowance; eagerUploadBytes: 0 announces none', async () => {
  const t = await testServer();
  const { hello } = await loggedIn(t);
  assert.is(hello.eagerBytes, 65536);
  assert.is(hello.eagerTotal, 1048576);
  const off = await testServer({ server: { eagerUploadBytes: 0 } });
  const raw = await RawClient.connect(off.port);
  const offHello = json(await raw.hello());
  assert.is(offHello.eagerBytes, undefined);
  assert.is(offHello.eagerTotal, undefined);
  // and data before the go-ahead is then what it always was: a protocol error
  raw.request(1, { op: 'login', username: 'alice', password: 'alice-password' });
  await answer(raw, 1);
  eagerUpload(raw, 2, { path: '/x.txt' }, Buffer.from('x'));
  const error = await raw.connectionError();
  assert.is(error.code, 'EPROTO');
});

test('a tiny file and one of exactly the allowance: REQUEST, DATA, END in one write, RESPONSE without a go-ahead', async () => {
  const t = await testServer({ server: { eagerUploadBytes: 4096 } });
  const { raw } = await loggedIn(t);
  for (const [id, data] of [
    [2, Buffer.from('tiny')],
    [3, Buffer.alloc(4096, 3)],
    [4, Buffer.alloc(0)],
  ] as const) {
    eagerUpload(raw, id, { path: `/f${id}.bin` }, data);
    const final = await answer(raw, id);
    assert.is(final.type, FrameType.RESPONSE, final.body.toString());
    assert.equal(json(final), { bytes: data.length, sha256: sha256(data) });
    assert.equal(await fsp.readFile(path.join(t.root, `f${id}.bin`)), data);
    // the server needs no go-ahead for an upload that arrived whole
    assert.not.ok(raw.frames.some((f) => f.stream === id && f.type === FrameType.PARTIAL));
  }
  assert.equal(await tempFiles(t.root), []);
});

test('bigger than the allowance: the first bytes eagerly, the rest after the go-ahead', async () => {
  const t = await testServer({ server: { eagerUploadBytes: 4096, window: 65536, chunkSize: 16384 } });
  const { raw } = await loggedIn(t);
  const data = Buffer.alloc(100_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  oneWrite(raw, [
    encodeJsonFrame(FrameType.REQUEST, 2, { op: 'upload', path: '/big.bin', size: data.length }),
    encodeData(2, data.subarray(0, 1000)),
    encodeData(2, data.subarray(1000, 4096)),
  ]);
  assert.equal(json(await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL)), { offset: 0 });
  // the window counts from the REQUEST: 65536 bytes in all until the server grants more
  raw.write(encodeData(2, data.subarray(4096, 65536)));
  let sent = 65536;
  while (sent < data.length) {
    const credit = await raw.next((f) => f.stream === 2 && f.type === FrameType.CREDIT);
    const n = Math.min(credit.body.readUInt32BE(0), data.length - sent);
    raw.write(encodeData(2, data.subarray(sent, sent + n)));
    sent += n;
  }
  raw.write(encodeJsonFrame(FrameType.END, 2, { bytes: data.length, sha256: sha256(data) }));
  const final = await answer(raw, 2);
  assert.equal(json(final), { bytes: data.length, sha256: sha256(data) });
  assert.equal(await fsp.readFile(path.join(t.root, 'big.bin')), data);
});

test('each refusal with eager data in flight: the same error, no file, no temp file, the connection goes on', async () => {
  const t = await testServer({
    server: { eagerUploadBytes: 4096, maxFileSize: 1_000_000 },
    users: {
      alice: 'alice-password',
      reader: { password: 'reader-password', permissions: ['read'] },
      carol: { password: 'carol-password', home: 'carol', quotaBytes: 2048 },
    },
  });
  await fsp.mkdir(path.join(t.root, 'carol'));
  await fsp.writeFile(path.join(t.root, 'exists.txt'), 'old');
  const { raw } = await loggedIn(t);
  const data = Buffer.alloc(3000, 1);
  const cases: Array<[Record<string, unknown>, string, Buffer?]> = [
    [{ path: '/exists.txt' }, 'EEXIST'],
    [{ path: '/../escape.txt' }, 'EACCES'],
    [{ path: '/folder/' }, 'EISDIR'],
    [{ path: '/missing/dir/x.txt' }, 'ENOENT'],
    [{ path: '/huge.bin', size: 2_000_000 }, 'ETOOLARGE'],
    [{ path: '/wrong-hash.bin' }, 'EINTEGRITY'],
  ];
  let id = 2;
  for (const [args, code] of cases) {
    if (code === 'EINTEGRITY') {
      oneWrite(raw, [
        encodeJsonFrame(FrameType.REQUEST, id, { op: 'upload', size: data.length, ...args }),
        encodeData(id, data),
        encodeJsonFrame(FrameType.END, id, { bytes: data.length, sha256: sha256('other') }),
      ]);
    } else {
      eagerUpload(raw, id, args, data);
    }
    const final = await answer(raw, id);
    assert.is(final.type, FrameType.ERROR, `${code}: ${final.body.toString()}`);
    assert.is(json(final).code, code);
    id++;
  }
  assert.is(await fsp.readFile(path.join(t.root, 'exists.txt'), 'utf8'), 'old');
  await plainUploadWorks(raw, t, id++);
  await waitFor(async () => (await walk(t.root)).join() === `after-${id - 1}.txt,carol,exists.txt`, 3000, 'only the expected files');
  assert.equal(await tempFiles(t.root), []);

  // permission and quota: other users
  const reader = (await loggedIn(t, 'reader')).raw;
  eagerUpload(reader, 2, { path: '/r.txt' }, data);
  assert.is(json(await answer(reader, 2)).code, 'EACCES');
  reader.request(3, { op: 'list', path: '/' });
  assert.is((await answer(reader, 3)).type, FrameType.RESPONSE);
  const carol = (await loggedIn(t, 'carol')).raw;
  eagerUpload(carol, 2, { path: '/q.bin' }, data);
  assert.is(json(await answer(carol, 2)).code, 'EQUOTA');
  const fits = Buffer.alloc(1000, 2);
  eagerUpload(carol, 3, { path: '/fits.bin' }, fits);
  assert.is((await answer(carol, 3)).type, FrameType.RESPONSE);
  assert.equal(await walk(path.join(t.root, 'carol')), ['fits.bin']);
  assert.equal(await tempFiles(t.root), []);
});

test('too many requests in flight: the eager data of the refused one is dropped, EBUSY, the connection goes on', async () => {
  const t = await testServer({ server: { maxRequestsInFlight: 2 } });
  const { raw } = await loggedIn(t);
  // request 2 holds its slot: an upload that got its go-ahead and waits for data
  raw.request(2, { op: 'upload', path: '/slow.bin' });
  await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  raw.request(3, { op: 'upload', path: '/slow2.bin' });
  await raw.next((f) => f.stream === 3 && f.type === FrameType.PARTIAL);
  eagerUpload(raw, 4, { path: '/refused.bin' }, Buffer.alloc(2000, 4));
  assert.is(json(await answer(raw, 4)).code, 'EBUSY');
  raw.write(encodeFrame(FrameType.CANCEL, 2));
  raw.write(encodeFrame(FrameType.CANCEL, 3));
  await answer(raw, 2);
  await answer(raw, 3);
  await plainUploadWorks(raw, t, 5);
  await waitFor(async () => (await walk(t.root)).join() === 'after-5.txt', 3000, 'no file but the last');
});

test('more than the allowance before the go-ahead is EPROTO, per request and per connection; another client keeps working', async () => {
  const t = await testServer({ server: { eagerUploadBytes: 4096, eagerUploadTotal: 8192 } });
  const other = await t.connect();
  // one request over its own allowance
  const { raw } = await loggedIn(t);
  oneWrite(raw, [
    encodeJsonFrame(FrameType.REQUEST, 2, { op: 'upload', path: '/flood.bin' }),
    encodeData(2, Buffer.alloc(4096)),
    encodeData(2, Buffer.alloc(1)),
  ]);
  const error = await raw.connectionError();
  assert.is(error.code, 'EPROTO');
  assert.match(error.message, /eager allowance is 4096/);
  await raw.waitClosed();
  // three requests within their own allowance, over the connection's together
  const many = (await loggedIn(t)).raw;
  const frames: Array<Buffer | Buffer[]> = [];
  for (const id of [2, 3, 4]) {
    frames.push(encodeJsonFrame(FrameType.REQUEST, id, { op: 'upload', path: `/m${id}.bin` }), encodeData(id, Buffer.alloc(4000)));
  }
  oneWrite(many, frames);
  const total = await many.connectionError();
  assert.is(total.code, 'EPROTO');
  assert.match(total.message, /connection's eager allowance is 8192/);
  await many.waitClosed();
  // a resumable upload never takes data before its go-ahead
  const resume = (await loggedIn(t)).raw;
  oneWrite(resume, [
    encodeJsonFrame(FrameType.REQUEST, 2, { op: 'upload', path: '/r.bin', resume: { key: 'k'.repeat(20) } }),
    encodeData(2, Buffer.from('x')),
  ]);
  assert.is((await resume.connectionError()).code, 'EPROTO');
  // the other client was not affected
  const data = Buffer.alloc(10_000, 9);
  assert.is((await other.upload(Readable.from([data]), '/other.bin', { size: data.length })).sha256, sha256(data));
  await other.ping();
  await waitFor(async () => (await walk(t.root)).join() === 'other.bin', 3000, 'no file but the other client’s');
});

test('CANCEL during the eager phase: EABORTED, nothing stored, the connection goes on', async () => {
  const t = await testServer();
  const { raw } = await loggedIn(t);
  oneWrite(raw, [
    encodeJsonFrame(FrameType.REQUEST, 2, { op: 'upload', path: '/c.bin', size: 100_000 }),
    encodeData(2, Buffer.alloc(1000)),
    encodeFrame(FrameType.CANCEL, 2),
    encodeData(2, Buffer.alloc(1000)), // in flight when the CANCEL was sent: dropped
  ]);
  assert.is(json(await answer(raw, 2)).code, 'EABORTED');
  await plainUploadWorks(raw, t, 3);
  await waitFor(async () => (await walk(t.root)).join() === 'after-3.txt', 3000, 'no file but the last');
  assert.equal(await tempFiles(t.root), []);
});

test('the client aborted during the eager phase: EABORTED, nothing under the name, the client goes on', async () => {
  const t = await testServer();
  const client = await t.connect();
  const controller = new AbortController();
  // announced 1 MiB, only the first chunk ever comes: the upload stays in its eager phase or just past it
  const source = new Readable({ read() {} });
  source.push(Buffer.alloc(1000, 1));
  const upload = client.upload(source, '/aborted.bin', { size: 1 << 20, signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  await rejects(upload, 'EABORTED');
  await waitFor(async () => (await walk(t.root)).length === 0 && client.connected, 3000, 'no file left');
  const data = Buffer.from('next');
  assert.is((await client.upload(Readable.from([data]), '/next.txt', { size: data.length })).sha256, sha256(data));
});

/** A fake server announcing `eager`, recording each upload's frames before it answers the go-ahead. */
async function recordingServer(
  eager: { eagerBytes: number; eagerTotal: number } | undefined,
  hold = 100,
): Promise<{ port: number; before: Map<number, Frame[]> }> {
  const before = new Map<number, Frame[]>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const decoder = new FrameDecoder(1024 * 1024);
    const goAheadSent = new Set<number>();
    const received = new Map<number, { bytes: number; sha: string | undefined }>();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const { type, stream } = frame;
        if (type === FrameType.HELLO) socket.write(encodeJsonFrame(FrameType.HELLO, 0, helloBody([1, 0], { ...eager })));
        else if (type === FrameType.REQUEST && json(frame).op === 'login') {
          socket.write(encodeJsonFrame(FrameType.RESPONSE, stream, { username: 'alice', permissions: ['read', 'write'] }));
        } else if (type === FrameType.REQUEST) {
          before.set(stream, []);
          received.set(stream, { bytes: 0, sha: undefined });
          // the go-ahead after a while: whatever came before it was sent eagerly
          setTimeout(() => {
            goAheadSent.add(stream);
            socket.write(encodeJsonFrame(FrameType.PARTIAL, stream, { offset: 0 }));
          }, hold);
        } else if (type === FrameType.DATA || type === FrameType.END) {
          if (!goAheadSent.has(stream)) before.get(stream)?.push({ ...frame, body: Buffer.from(frame.body) });
          const r = received.get(stream)!;
          if (type === FrameType.DATA) r.bytes += frame.body.length;
          else {
            const end = json(frame);
            socket.write(encodeJsonFrame(FrameType.RESPONSE, stream, { bytes: end.bytes, sha256: end.sha256 }));
          }
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, before };
}

async function fakeClient(port: number): Promise<FileShareClient> {
  const client = new FileShareClient({ host: '127.0.0.1', port });
  defer(() => client.close());
  await client.connect();
  await client.login('alice', 'x');
  return client;
}

test('the client sends a small file and its END before the go-ahead, a larger one only up to the allowance', async () => {
  const { port, before } = await recordingServer({ eagerBytes: 4096, eagerTotal: 6000 });
  const client = await fakeClient(port);
  const dir = await tempDir();
  const small = path.join(dir, 'small.txt');
  await fsp.writeFile(small, 'small file');
  const big = path.join(dir, 'big.bin');
  await fsp.writeFile(big, Buffer.alloc(20_000, 5));
  await within(client.upload(small, '/small.txt'), 5000, 'the small upload');
  const smallFrames = [...before.values()][0]!;
  assert.equal(
    smallFrames.map((f) => f.type),
    [FrameType.DATA, FrameType.END],
  );
  assert.is(smallFrames[0]!.body.toString(), 'small file');
  before.clear();
  await within(client.upload(big, '/big.bin'), 5000, 'the big upload');
  const bigFrames = [...before.values()][0]!;
  assert.ok(bigFrames.every((f) => f.type === FrameType.DATA));
  assert.is(
    bigFrames.reduce((n, f) => n + f.body.length, 0),
    4096,
  );
  // two at once: together within the connection's 6000 (the second gets what is left)
  before.clear();
  await within(Promise.all([client.upload(big, '/a.bin'), client.upload(big, '/b.bin')]), 5000, 'two uploads');
  const counts = [...before.values()].map((frames) => frames.reduce((n, f) => n + f.body.length, 0));
  assert.ok(counts.reduce((a, b) => a + b, 0) <= 6000, `eager bytes ${counts.join(' + ')} exceed the total`);
  assert.equal(counts, [4096, 6000 - 4096]);
  // a resumed upload waits for the go-ahead
  before.clear();
  await within(client.upload(small, '/resumed.txt', { resume: true }), 5000, 'the resumable upload');
  assert.equal([...before.values()][0], []);
});

test('a server without an allowance (a 1.0 server) gets no data before its go-ahead', async () => {
  const { port, before } = await recordingServer(undefined);
  const client = await fakeClient(port);
  const dir = await tempDir();
  const small = path.join(dir, 'small.txt');
  await fsp.writeFile(small, 'small file');
  await within(client.upload(small, '/small.txt'), 5000, 'the upload');
  assert.equal([...before.values()], [[]]);
});

test('the real client against the real server: many small and mid-size uploads at once within the allowances', async () => {
  const t = await testServer({ server: { eagerUploadBytes: 4096, eagerUploadTotal: 16384 } });
  const client = await t.connect();
  const dir = await tempDir();
  const files: Array<[string, Buffer]> = [];
  for (let i = 0; i < 40; i++) {
    const data = Buffer.alloc(i % 3 === 0 ? 10_000 + i : 1000 + i, i);
    const file = path.join(dir, `f${i}.bin`);
    await fsp.writeFile(file, data);
    files.push([file, data]);
  }
  const results = await within(Promise.all(files.map(([file], i) => client.upload(file, `/f${i}.bin`))), 20_000, 'the uploads');
  for (const [i, [, data]] of files.entries()) {
    assert.is(results[i]!.sha256, sha256(data));
    assert.equal(await fsp.readFile(path.join(t.root, `f${i}.bin`)), data);
  }
  // an old-style server configuration: the same client waits for each go-ahead
  const off = await testServer({ server: { eagerUploadBytes: 0 } });
  const plain = await off.connect();
  assert.is((await plain.upload(files[1]![0], '/one.bin')).sha256, sha256(files[1]![1]));
  assert.equal(await tempFiles(t.root), []);
  assert.ok(client.connected);
});

test('a local source that cannot be read: the same errors as before the eager path', async () => {
  const t = await testServer();
  const client = await t.connect();
  const dir = await tempDir();
  await rejects(client.upload(path.join(dir, 'missing.txt'), '/m.txt'), 'ENOENT');
  await rejects(client.upload(dir, '/d.txt'), 'EISDIR');
  assert.equal(await walk(t.root), []);
});

test.run();
