/**
 * The client against a scripted fake server (hand-built frames over a real socket): what it does
 * when the server lies about a hash, ignores flow control, speaks another version, or says nothing.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeData, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import { defer, dispose, failure, helloBody, rejects, tempDir, walk, within } from './helpers.ts';

test.after.each(dispose);

type Script = (frame: Frame, send: (bytes: Buffer | Buffer[]) => void, socket: net.Socket) => void;

/** A server that answers HELLO (with `hello`) and hands every later frame to `script`. */
async function fakeServer(
  script: Script,
  hello: object | null = helloBody([1, 0], { server: { chunkSize: 65536, maxRequestsInFlight: 64 } }),
): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const decoder = new FrameDecoder(1024 * 1024);
    const send = (bytes: Buffer | Buffer[]) => {
      for (const b of Array.isArray(bytes) ? bytes : [bytes]) socket.write(b);
    };
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === FrameType.HELLO) {
          if (hello) send(encodeJsonFrame(FrameType.HELLO, 0, hello));
          continue;
        }
        if (frame.type === FrameType.REQUEST && JSON.parse(frame.body.toString()).op === 'login') {
          send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { username: 'alice', permissions: ['read'] }));
          continue;
        }
        script(frame, send, socket);
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
  return (server.address() as net.AddressInfo).port;
}

async function client(port: number, options: ConstructorParameters<typeof FileShareClient>[0] = {}): Promise<FileShareClient> {
  const c = new FileShareClient({ host: '127.0.0.1', port, ...options });
  defer(() => c.close());
  await c.connect();
  await c.login('alice', 'pw');
  return c;
}

const request = (frame: Frame) => JSON.parse(frame.body.toString()) as Record<string, unknown>;
const hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

test('a download whose final SHA-256 does not match is EINTEGRITY, and no local file appears', async () => {
  const data = Buffer.from('the real bytes');
  const port = await fakeServer((frame, send) => {
    if (frame.type !== FrameType.REQUEST) return;
    send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { size: data.length, mtime: 0, offset: 0 }));
    send(encodeData(frame.stream, data));
    send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { bytes: data.length, sha256: hex('other bytes') }));
  });
  const c = await client(port);
  const local = await tempDir();
  await rejects(c.download('/f', path.join(local, 'f')), 'EINTEGRITY');
  assert.equal(await walk(local), []);
  assert.ok(c.connected, 'a request error leaves the connection usable');
});

test('a download that is short of the bytes the server claims is EINTEGRITY', async () => {
  const data = Buffer.from('0123456789');
  const port = await fakeServer((frame, send) => {
    if (frame.type !== FrameType.REQUEST) return;
    send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { size: 20, mtime: 0, offset: 0 }));
    send(encodeData(frame.stream, data));
    send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { bytes: 20, sha256: hex(data) }));
  });
  const c = await client(port);
  await rejects(c.download('/f', new PassThrough().resume()), 'EINTEGRITY');
});

test('an upload the server acknowledges with another SHA-256 is EINTEGRITY', async () => {
  const port = await fakeServer((frame, send) => {
    if (frame.type === FrameType.REQUEST) send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { offset: 0 }));
    if (frame.type === FrameType.END) {
      const end = request(frame);
      send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { bytes: end.bytes, sha256: hex('tampered') }));
    }
  });
  const c = await client(port);
  await rejects(c.upload(Readable.from([Buffer.from('payload')]), '/f'), 'EINTEGRITY');
});

test('an abort that arrives after the server committed the upload does not report EABORTED for a stored file', async () => {
  let endSeen: () => void = () => {};
  const ended = new Promise<void>((resolve) => (endSeen = resolve));
  let end: Record<string, unknown> = {};
  const port = await fakeServer((frame, send) => {
    if (frame.type === FrameType.REQUEST) send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { offset: 0 }));
    if (frame.type === FrameType.END) {
      end = request(frame);
      endSeen();
    }
    // the CANCEL crosses the server's commit: the server has stored the file and says so
    if (frame.type === FrameType.CANCEL) send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { bytes: end.bytes, sha256: end.sha256 }));
  });
  const c = await client(port);
  const controller = new AbortController();
  const upload = c.upload(Readable.from([Buffer.from('payload')]), '/f', { signal: controller.signal });
  await within(ended, 3000, 'the END frame');
  controller.abort();
  const result = await within(upload, 3000, 'the upload');
  assert.is(result.sha256, hex('payload'));
});

test('an abort the server honours (ERROR EABORTED) rejects EABORTED', async () => {
  const port = await fakeServer((frame, send) => {
    if (frame.type === FrameType.REQUEST) send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { offset: 0 }));
    if (frame.type === FrameType.CANCEL) send(encodeJsonFrame(FrameType.ERROR, frame.stream, { code: 'EABORTED', message: 'cancelled' }));
  });
  const c = await client(port);
  const controller = new AbortController();
  const endless = new Readable({
    read() {
      setTimeout(() => this.push(Buffer.alloc(1024)), 5);
    },
  });
  const upload = c.upload(endless, '/f', { signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  await rejects(within(upload, 3000, 'the upload'), 'EABORTED');
});

test('transfers whose go-ahead arrives after GOAWAY still complete (in-flight requests may finish)', async () => {
  const data = Buffer.from('downloaded after goaway');
  const port = await fakeServer((frame, send) => {
    if (frame.type === FrameType.REQUEST) {
      const op = request(frame).op;
      send(encodeJsonFrame(FrameType.GOAWAY, 0, { reason: 'shutting down' }));
      if (op === 'download') {
        send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { size: data.length, mtime: 0, offset: 0 }));
        send(encodeData(frame.stream, data));
        send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { bytes: data.length, sha256: hex(data) }));
      } else {
        send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { offset: 0 }));
      }
    }
    if (frame.type === FrameType.END) {
      const end = request(frame);
      send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { bytes: end.bytes, sha256: end.sha256 }));
    }
  });
  const down = await client(port);
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  assert.is((await within(down.download('/f', sink), 3000, 'the download')).sha256, hex(data));
  assert.ok(Buffer.concat(chunks).equals(data));
  await rejects(down.stat('/'), 'ECLOSED'); // but nothing new after GOAWAY
  const up = await client(port);
  assert.is((await within(up.upload(Readable.from([Buffer.from('up')]), '/g'), 3000, 'the upload')).sha256, hex('up'));
});

test('a download aborted before its go-ahead: data already in flight is dropped, the connection survives', async () => {
  let requested: () => void = () => {};
  const asked = new Promise<void>((resolve) => (requested = resolve));
  const port = await fakeServer((frame, send) => {
    if (frame.type === FrameType.REQUEST && request(frame).op === 'download') requested();
    if (frame.type === FrameType.REQUEST && request(frame).op === 'stat') {
      send(encodeJsonFrame(FrameType.RESPONSE, frame.stream, { name: '', type: 'directory', size: 0, mtime: 0 }));
    }
    // the go-ahead and some data crossed the CANCEL on the wire, then the server confirms it
    if (frame.type === FrameType.CANCEL) {
      send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { size: 100, mtime: 0, offset: 0 }));
      send(encodeData(frame.stream, Buffer.alloc(100)));
      send(encodeJsonFrame(FrameType.ERROR, frame.stream, { code: 'EABORTED', message: 'cancelled' }));
    }
  });
  const c = await client(port);
  const local = await tempDir();
  const controller = new AbortController();
  const download = c.download('/f', path.join(local, 'f'), { signal: controller.signal });
  await within(asked, 3000, 'the request');
  controller.abort();
  await rejects(within(download, 3000, 'the download'), 'EABORTED');
  assert.ok(c.connected, 'the connection survives');
  assert.is((await c.stat('/')).type, 'directory');
  assert.equal(await walk(local), []);
});

test("a server that sends DATA beyond the client's window gets a connection error EPROTO", async () => {
  let errorFromClient: Record<string, unknown> | undefined;
  const port = await fakeServer((frame, send) => {
    if (frame.type === FrameType.ERROR && frame.stream === 0) errorFromClient = request(frame);
    if (frame.type !== FrameType.REQUEST) return;
    send(encodeJsonFrame(FrameType.PARTIAL, frame.stream, { size: 1 << 20, mtime: 0, offset: 0 }));
    // the client announced a 16 KiB window below: 64 KiB is a flow-control violation
    for (let i = 0; i < 4; i++) send(encodeData(frame.stream, Buffer.alloc(16 * 1024)));
  });
  const c = await client(port, { window: 16 * 1024, chunkSize: 4096 });
  const closed = new Promise<unknown>((resolve) => c.once('close', resolve));
  const err = await within(failure(c.download('/f', new PassThrough().resume())), 5000, 'the download');
  assert.is(err.code, 'EPROTO');
  assert.is(((await within(closed, 3000, 'close')) as { code?: string } | undefined)?.code, 'EPROTO');
  await within(
    (async () => {
      while (!errorFromClient) await new Promise((r) => setTimeout(r, 10));
    })(),
    3000,
    'the ERROR frame',
  );
  assert.is(errorFromClient!.code, 'EPROTO');
});

test('a server HELLO of another major version: connect() rejects EPROTO', async () => {
  const port = await fakeServer(() => {}, helloBody([2, 0]));
  const c = new FileShareClient({ host: '127.0.0.1', port });
  defer(() => c.close());
  await rejects(c.connect(), 'EPROTO');
  assert.not.ok(c.connected);
});

test('a server that never answers HELLO: connect() rejects ETIMEDOUT within connectTimeout', async () => {
  const port = await fakeServer(() => {}, null);
  const c = new FileShareClient({ host: '127.0.0.1', port, connectTimeout: 300 });
  defer(() => c.close());
  await rejects(within(c.connect(), 3000, 'connect'), 'ETIMEDOUT');
});

test('a server that sends garbage: the client closes with EPROTO', async () => {
  const port = await fakeServer((frame, _send, socket) => {
    if (frame.type === FrameType.REQUEST) socket.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  const c = await client(port);
  const closed = new Promise<unknown>((resolve) => c.once('close', resolve));
  assert.is((await failure(within(c.list('/'), 3000, 'list'))).code, 'EPROTO');
  assert.is(((await within(closed, 3000, 'close')) as { code?: string } | undefined)?.code, 'EPROTO');
});

test('an ERROR with a code the client does not know becomes EIO; a request timeout is ETIMEDOUT', async () => {
  const port = await fakeServer((frame, send) => {
    if (frame.type !== FrameType.REQUEST) return;
    const op = request(frame).op;
    if (op === 'stat') send(encodeJsonFrame(FrameType.ERROR, frame.stream, { code: 'EWEIRD', message: 'x' }));
    // list: never answered
  });
  const c = await client(port, { requestTimeout: 1000 });
  await rejects(c.stat('/'), 'EIO');
  await rejects(within(c.list('/'), 3000, 'list'), 'ETIMEDOUT');
  assert.ok(c.connected);
});

test('a ping the server never answers is ETIMEDOUT and a pingLost event', async () => {
  const port = await fakeServer(() => {});
  const c = await client(port);
  const lost: number[] = [];
  c.metrics.on('pingLost', (e) => lost.push(e.seq));
  await rejects(c.ping({ timeoutMs: 100 }), 'ETIMEDOUT');
  assert.equal(lost, [1]);
});

test.run();
