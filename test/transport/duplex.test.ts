/**
 * The frame connection, the server's session (with its handlers) and the client's channel over an
 * in-memory Duplex pair, no socket involved: the layers depend on a byte stream, not on TCP. Also
 * the backpressure of control frames (a listing waits for a reader that does not read), and
 * `signal` on calls that are not transfers.
 */
import { Readable, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientChannel } from '../../src/client/channel.ts';
import { resolveClientOptions } from '../../src/client/options.ts';
import { FileShareClient } from '../../src/client/client.ts';
import type { FileShareError } from '../../src/errors.ts';
import { encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import { ServerCore } from '../../src/server/core.ts';
import { resolveServerOptions } from '../../src/server/options.ts';
import { LocalStorage } from '../../src/storage/local-storage.ts';
import { FrameConnection } from '../../src/transport/frame-connection.ts';
import { authFor, defer, dispose, rejects, sha256, tempDir, testServer, waitFor, within } from '../core/helpers.ts';
import { duplexPair } from './duplex-pair.ts';

test.after.each(dispose);

/** A server core over a temp folder, and a connected, handshaken client channel, over a Duplex pair. */
async function inMemory(options: { highWaterMark?: number } = {}) {
  const root = await tempDir('fileshare-duplex-');
  const events: string[] = [];
  const core = new ServerCore(
    resolveServerOptions({ root, auth: await authFor({ alice: 'alice-password' }), loginThrottle: false, port: 0 }),
    (event: string, ..._payload: unknown[]) => {
      events.push(event);
    },
  );
  core.start(new LocalStorage(root));
  defer(() => core.shutdown());
  const [clientSide, serverSide] = duplexPair(options.highWaterMark);
  core.serve(serverSide, { remoteAddress: 'memory', remotePort: 0, secure: false });
  let closed: FileShareError | undefined | 'open' = 'open';
  const channel = new ClientChannel(
    resolveClientOptions({}),
    (error) => (closed = error),
    () => {},
  );
  defer(() => channel.close(false));
  await within(channel.attach(clientSide, 'memory'), 5000, 'the handshake');
  return { root, core, channel, events, clientSide, serverSide, closed: () => closed };
}

test('FrameConnection over a Duplex pair: frames both ways, split and joined arbitrarily', async () => {
  const [a, b] = duplexPair(16);
  const got: Frame[] = [];
  const left = new FrameConnection(a, { maxFrameSize: 4096, chunkSize: 1024, onFrame: () => {}, onClose: () => {} });
  const right = new FrameConnection(b, {
    maxFrameSize: 4096,
    chunkSize: 1024,
    onFrame: (frame) => got.push({ ...frame, body: Buffer.from(frame.body) }),
    onClose: () => {},
  });
  for (let i = 1; i <= 20; i++) left.sendJson(FrameType.PARTIAL, i, { i, pad: 'x'.repeat(i * 7) });
  await waitFor(() => got.length === 20, 5000, 'twenty frames through a 16-byte pipe');
  assert.equal(
    got.map((f) => [f.type, f.stream, JSON.parse(f.body.toString()).i]),
    Array.from({ length: 20 }, (_, k) => [FrameType.PARTIAL, k + 1, k + 1]),
  );
  left.end();
  await within(right.whenClosed(), 5000, 'the other side to close');
  assert.ok(left.isClosed && right.isClosed);
});

test('session and handlers over a Duplex: login, mkdir, upload frames, list, stat, events', async () => {
  const { channel, events, root } = await inMemory();
  const login = await channel.request('login', { username: 'alice', password: 'alice-password' }).done;
  assert.is(login.username, 'alice');
  await channel.request('mkdir', { path: '/d' }).done;
  // an upload driven frame by frame, as the client's upload does it
  const body = Buffer.from('in-memory bytes');
  const request = channel.request(
    'upload',
    { path: '/d/f.txt', size: body.length },
    {
      onPartial: () => {
        const connection = channel.requireConnected();
        connection.sendFrame(FrameType.DATA, request.id, body);
        connection.send(encodeJsonFrame(FrameType.END, request.id, { bytes: body.length, sha256: sha256(body) }));
      },
    },
  );
  assert.equal(await request.done, { bytes: body.length, sha256: sha256(body) });
  const parts: unknown[] = [];
  const listed = await channel.request('list', { path: '/d' }, { onPartial: (p) => parts.push(...(p.entries as unknown[])) }).done;
  assert.is(listed.count, 1);
  assert.is((parts[0] as { name: string }).name, 'f.txt');
  const entry = await channel.request('stat', { path: '/d/f.txt' }).done;
  assert.is(entry.size, body.length);
  const { readFile } = await import('node:fs/promises');
  assert.is(await readFile(`${root}/d/f.txt`, 'utf8'), 'in-memory bytes');
  assert.equal(
    events.filter((e) => ['connection', 'login', 'mkdir', 'upload'].includes(e)),
    ['connection', 'login', 'mkdir', 'upload'],
  );
});

test('errors over a Duplex: ENOTAUTH before login, EAUTH, and a protocol error closes the session', async () => {
  const { channel, closed } = await inMemory();
  await rejects(channel.request('list', { path: '/' }).done, 'ENOTAUTH');
  await rejects(channel.request('login', { username: 'alice', password: 'wrong' }).done, 'EAUTH');
  // DATA for a stream that never existed is a connection error (EPROTO on stream 0)
  channel.requireConnected().sendFrame(FrameType.DATA, 999, Buffer.from('x'));
  await waitFor(() => closed() !== 'open', 5000, 'the connection to close');
  assert.throws(
    () => channel.request('list', { path: '/' }),
    (err: FileShareError) => err.code === 'EPROTO',
  );
});

test('a listing waits while the client does not read, and completes once it does (control-frame backpressure)', async () => {
  const { channel, core, clientSide, serverSide, root } = await inMemory({ highWaterMark: 1024 });
  await channel.request('login', { username: 'alice', password: 'alice-password' }).done;
  const names = Array.from({ length: 3000 }, (_, i) => `folder-with-a-long-name-${String(i).padStart(5, '0')}`);
  const { mkdir } = await import('node:fs/promises');
  for (const name of names) await mkdir(`${root}/${name}`);
  clientSide.pause(); // the client stops reading: the server's writes back up
  let batches = 0;
  const listing = channel.request('list', { path: '/' }, { onPartial: () => batches++ }).done;
  listing.catch(() => {}); // awaited below; a failed assertion first must not make it unhandled
  await waitFor(() => serverSide.writableNeedDrain, 10_000, 'the server to fill the pipe');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.is(batches, 0, 'nothing read while paused');
  // about one batch is queued on the server, not the whole listing (about 200 kB)
  assert.ok(serverSide.writableLength < 100_000, `${serverSide.writableLength} bytes queued`);
  assert.is(core.connectionCount, 1);
  clientSide.resume();
  const done = await within(listing, 10_000, 'the listing once the client reads');
  assert.is(done.count, names.length);
  assert.ok(batches > 1, `${batches} batches`);
});

test('signal: list, stat, mkdir, rename, delete, login and ping reject with EABORTED; the connection stays usable', async () => {
  const t = await testServer();
  const client = await t.connect();
  const aborted = AbortSignal.abort();
  for (const call of [
    () => client.list('/', { signal: aborted }),
    () => client.stat('/', { signal: aborted }),
    () => client.mkdir('/x', { signal: aborted }),
    () => client.rmdir('/x', { signal: aborted }),
    () => client.rename('/a', '/b', { signal: aborted }),
    () => client.delete('/a', { signal: aborted }),
    () => client.login('alice', 'alice-password', { signal: aborted }),
    () => client.ping({ signal: aborted }),
  ]) {
    await rejects(call(), 'EABORTED');
  }
  // an abort while the answer is on its way
  const controller = new AbortController();
  const pending = client.list('/', { signal: controller.signal });
  controller.abort();
  await rejects(pending, 'EABORTED');
  assert.equal(await client.list('/'), []);
  assert.ok((await client.ping()) >= 0);
});

test('signal: connect() aborted during the handshake rejects with EABORTED', async () => {
  // a server that accepts the TCP connection but never answers HELLO
  const net = await import('node:net');
  const silent = net.createServer((socket) => socket.resume());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  defer(() => new Promise((resolve) => silent.close(resolve)));
  const port = (silent.address() as { port: number }).port;
  const client = new FileShareClient({ host: '127.0.0.1', port, connectTimeout: 20_000 });
  defer(() => client.close());
  const controller = new AbortController();
  const connecting = client.connect({ signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await rejects(within(connecting, 10_000, 'connect to give up'), 'EABORTED');
  await rejects(client.connect({ signal: AbortSignal.abort() }), 'EABORTED');
});

test('a real client over TCP is unchanged: the Duplex seam costs nothing end to end', async () => {
  const t = await testServer();
  const client = await t.connect();
  const data = Buffer.alloc(300_000, 7);
  await client.upload(Readable.from([data]), '/big.bin', { size: data.length });
  const chunks: Buffer[] = [];
  await client.download('/big.bin', new Writable({ write: (c, _e, cb) => (chunks.push(c), cb()) }));
  assert.is(sha256(Buffer.concat(chunks)), sha256(data));
});

test.run();
