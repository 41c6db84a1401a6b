/**
 * Resource limits and per-user limits: handshake, frame and idle timeouts, connection limits in
 * total and per address, requests in flight, quotas, maximum file sizes, homes and permissions.
 * Where a limit must act "before the data", a raw frame client checks what the server sent.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import {
  authFor,
  RawClient,
  defer,
  dispose,
  hasLoopbackAlias,
  helloBody,
  json,
  makeFile,
  rejects,
  sha256File,
  sizeOf,
  sleep,
  tempDir,
  tempFiles,
  testServer,
  waitFor,
  walk,
  within,
} from './helpers.ts';

test.after.each(dispose);

const MiB = 1024 * 1024;
const isError = (id: number) => (f: { type: FrameType; stream: number }) =>
  f.stream === id && (f.type === FrameType.ERROR || f.type === FrameType.RESPONSE);

// ---- timeouts ---------------------------------------------------------------------------------

test('handshakeTimeout: a client that connects and sends nothing is dropped with ETIMEDOUT', async () => {
  const t = await testServer({ server: { handshakeTimeout: 200 } });
  const raw = await RawClient.connect(t.port);
  const error = json(await raw.next((f) => f.type === FrameType.ERROR && f.stream === 0, 3000));
  assert.is(error.code, 'ETIMEDOUT');
  await raw.waitClosed(3000);
  await waitFor(() => t.server.connectionCount === 0, 2000, 'the session to go');
});

test('frameTimeout: a client trickling its HELLO a byte at a time is dropped long before the HELLO could complete', async () => {
  const t = await testServer({ server: { frameTimeout: 300, handshakeTimeout: 20_000, loginTimeout: 20_000, idleTimeout: 20_000 } });
  const raw = await RawClient.connect(t.port);
  const hello = encodeJsonFrame(FrameType.HELLO, 0, helloBody());
  let sent = 0;
  const trickle = setInterval(() => {
    if (sent < hello.length && !raw.closed) raw.write(hello.subarray(sent, ++sent));
  }, 25);
  defer(() => clearInterval(trickle));
  const error = json(await raw.next((f) => f.type === FrameType.ERROR && f.stream === 0, 4000));
  assert.is(error.code, 'ETIMEDOUT');
  await raw.waitClosed(3000);
  assert.ok(sent < hello.length, 'the HELLO completed: the trickle was not slow enough to test anything');
});

test('frameTimeout: after login too, a frame trickled a byte at a time gets the connection dropped', async () => {
  const t = await testServer({ server: { frameTimeout: 300, idleTimeout: 20_000 } });
  const raw = await RawClient.connect(t.port);
  await raw.login('alice', 'alice-password');
  const request = encodeJsonFrame(FrameType.REQUEST, 2, { op: 'list', path: '/', padding: 'x'.repeat(400) });
  let sent = 0;
  const trickle = setInterval(() => {
    if (sent < request.length && !raw.closed) raw.write(request.subarray(sent, ++sent));
  }, 25);
  defer(() => clearInterval(trickle));
  const error = json(await raw.next((f) => f.type === FrameType.ERROR && f.stream === 0, 4000));
  assert.is(error.code, 'ETIMEDOUT');
  await raw.waitClosed(3000);
});

test('idleTimeout: a logged-in client that sends nothing is dropped; one that keeps pinging is not', async () => {
  const t = await testServer({ server: { idleTimeout: 500 } });
  const busy = await t.connect();
  const busyPinging = (async () => {
    for (let i = 0; i < 12; i++) {
      await busy.ping();
      await sleep(100);
    }
  })();
  // a ping failure is awaited below; until then it must not end the process as an unhandled rejection
  busyPinging.catch(() => {});
  const idle = await t.connect();
  const closed = new Promise<unknown>((resolve) => idle.once('close', resolve));
  await busyPinging; // 1.2 s of pings, far beyond the idle timeout
  const error = (await within(closed, 3000, 'the idle client to be dropped')) as { code?: string } | undefined;
  assert.is(error?.code, 'ETIMEDOUT');
  assert.ok(busy.connected, 'the pinging client was dropped');
});

test('idleTimeout: the idle clock restarts when the server answers, so a login slower than the timeout leaves the client its full idle time', async () => {
  const base = await authFor({ alice: 'alice-password' });
  // a verification that takes longer than idleTimeout, as a queued bcrypt check in a login storm does
  const slowAuth = {
    authenticate: async (...args: Parameters<typeof base.authenticate>) => {
      await sleep(1500);
      return base.authenticate(...args);
    },
  };
  const t = await testServer({ auth: slowAuth, server: { idleTimeout: 1000, loginTimeout: 20_000 } });
  const client = await t.connect();
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  let dropped = false;
  void closed.then(() => (dropped = true));
  await sleep(600); // well inside the idle time that starts with the login's answer
  assert.not.ok(dropped, 'the client was dropped within its idle time after a slow login');
  assert.ok((await client.ping()) >= 0);
});

test('idleTimeout: a client that opens an upload and then sends nothing is dropped too (it cannot hold a connection forever)', async () => {
  // the idle clock runs from the login request, whose bcrypt check alone can take several hundred
  // ms on a loaded machine: 1 s leaves the upload request room to arrive before the client is idle
  const t = await testServer({ server: { idleTimeout: 1000 } });
  const raw = await RawClient.connect(t.port);
  await raw.login('alice', 'alice-password');
  raw.request(2, { op: 'upload', path: '/stalled.bin', size: 1000 });
  const goAhead = await raw.next((f) => f.stream === 2, 3000);
  assert.is(goAhead.type, FrameType.PARTIAL);
  // ...and not a byte of data follows
  await raw.waitClosed(8000);
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the session to go');
  assert.equal(await walk(t.root), [], 'the stalled upload left something');
});

// ---- connection limits ------------------------------------------------------------------------

test('maxConnections: one more connection gets EBUSY and is closed; a freed slot is usable again', async () => {
  const t = await testServer({ server: { maxConnections: 2 } });
  const a = await t.client();
  await t.client();
  await rejects(t.client(), 'EBUSY');
  await a.close();
  await waitFor(() => t.server.connectionCount === 1, 3000, 'the slot to free');
  const c = await t.client();
  assert.ok(c.connected);
});

test('maxConnectionsPerAddress: one address is capped, another address still gets in', async () => {
  const t = await testServer({ server: { maxConnectionsPerAddress: 2, maxConnections: 10 } });
  await t.client();
  await t.client();
  await rejects(t.client(), 'EBUSY');
  if (!(await hasLoopbackAlias())) {
    console.log('  (skipped the second address: 127.0.0.2 is not usable on this machine)');
    return;
  }
  const other = await t.client({ localAddress: '127.0.0.2' });
  await other.login('alice', 'alice-password');
  assert.equal(await other.list('/'), []);
});

test('maxRequestsInFlight: requests beyond the cap are EBUSY, the others succeed, the connection stays usable', async () => {
  const t = await testServer({ server: { maxRequestsInFlight: 2 } });
  const raw = await RawClient.connect(t.port);
  await raw.login('alice', 'alice-password');
  // two uploads that wait for their data hold two slots
  raw.request(2, { op: 'upload', path: '/x.bin', size: 10 });
  raw.request(3, { op: 'upload', path: '/y.bin', size: 10 });
  raw.request(4, { op: 'stat', path: '/' });
  const refused = await raw.next(isError(4), 3000);
  assert.is(refused.type, FrameType.ERROR);
  assert.is(json(refused).code, 'EBUSY');
  raw.write(encodeJsonFrame(FrameType.CANCEL, 2, {}));
  assert.is(json(await raw.next(isError(2), 3000)).code, 'EABORTED');
  raw.request(5, { op: 'stat', path: '/' });
  assert.is((await raw.next(isError(5), 3000)).type, FrameType.RESPONSE);
});

// ---- max file size ------------------------------------------------------------------------------

test('maxFileSize: an announced size over the limit is ETOOLARGE before the go-ahead, no temp file is ever created', async () => {
  const t = await testServer({ server: { maxFileSize: MiB } });
  const created: string[] = [];
  const controller = new AbortController();
  defer(() => controller.abort());
  const watcher = fsp.watch(t.root, { signal: controller.signal });
  const watching = (async () => {
    try {
      for await (const e of watcher) if (e.filename) created.push(e.filename);
    } catch {
      /* closed */
    }
  })();
  const raw = await RawClient.connect(t.port);
  await raw.login('alice', 'alice-password');
  raw.request(2, { op: 'upload', path: '/big.bin', size: MiB + 1 });
  const answer = await raw.next((f) => f.stream === 2, 3000);
  assert.is(answer.type, FrameType.ERROR, 'the server gave the go-ahead');
  assert.is(json(answer).code, 'ETOOLARGE');
  assert.equal(
    raw.frames.filter((f) => f.stream === 2),
    [],
  );
  // exactly the limit is fine
  raw.request(3, { op: 'upload', path: '/ok.bin', size: MiB });
  assert.is((await raw.next((f) => f.stream === 3, 3000)).type, FrameType.PARTIAL);
  await sleep(100);
  assert.not.ok(
    created.some((name) => name.includes('big.bin')),
    `a temp file was created for the refused upload: ${created}`,
  );
  void watching;
});

test('maxFileSize per user, and while streaming when the size is not announced: ETOOLARGE, nothing stored', async () => {
  const users = { alice: 'alice-password', bob: { password: 'bob-password', maxFileSize: 100_000 } };
  const t = await testServer({ users, server: { maxFileSize: 4 * MiB } });
  const bob = await t.connect('bob');
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'f.bin'), 200_000);
  await rejects(bob.upload(file, '/f.bin'), 'ETOOLARGE');
  const unannounced = Readable.from([Buffer.alloc(60_000), Buffer.alloc(60_000)]);
  await rejects(bob.upload(unannounced, '/g.bin'), 'ETOOLARGE');
  const alice = await t.connect('alice');
  await alice.upload(file, '/f.bin'); // alice is under the server's limit
  await rejects(alice.upload(Readable.from([Buffer.alloc(3 * MiB), Buffer.alloc(2 * MiB)]), '/h.bin'), 'ETOOLARGE');
  assert.equal(await walk(t.root), ['f.bin']);
  assert.ok(bob.connected && alice.connected);
});

// ---- quotas -------------------------------------------------------------------------------------

const quotaUsers = { carol: { password: 'carol-password', home: 'carol', quotaBytes: 10 * MiB } };

test('quota: an announced size that does not fit is EQUOTA before the go-ahead; no temp file', async () => {
  const t = await testServer({ users: quotaUsers });
  const carol = await t.connect('carol');
  const local = await tempDir();
  await carol.upload(await makeFile(path.join(local, 'six.bin'), 6 * MiB), '/six.bin');
  const raw = await RawClient.connect(t.port);
  await raw.login('carol', 'carol-password');
  raw.request(2, { op: 'upload', path: '/five.bin', size: 5 * MiB });
  const answer = await raw.next((f) => f.stream === 2, 3000);
  assert.is(answer.type, FrameType.ERROR, 'the server gave the go-ahead');
  assert.is(json(answer).code, 'EQUOTA');
  assert.equal(await tempFiles(t.root), []);
  // what fits is accepted
  await carol.upload(await makeFile(path.join(local, 'four.bin'), 4 * MiB), '/four.bin');
  assert.equal(await walk(path.join(t.root, 'carol')), ['four.bin', 'six.bin']);
});

test('quota: an unannounced stream is stopped with EQUOTA once it exceeds the quota; nothing stored', async () => {
  const t = await testServer({ users: quotaUsers });
  const carol = await t.connect('carol');
  const chunks = Array.from({ length: 12 }, () => Buffer.alloc(MiB, 1));
  await rejects(carol.upload(Readable.from(chunks), '/stream.bin'), 'EQUOTA');
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 3000, 'the temp file to go');
  assert.equal(await walk(path.join(t.root, 'carol')), []);
  assert.ok(carol.connected);
});

test('quota: replacing a file counts the new size, not both; a resumed upload does not count its kept bytes twice', async () => {
  const t = await testServer({ users: quotaUsers, client: { progressIntervalMs: 0 } });
  const carol = await t.connect('carol');
  const local = await tempDir();
  const seven = await makeFile(path.join(local, 'seven.bin'), 7 * MiB);
  await carol.upload(seven, '/doc.bin');
  // 7 MiB stored, 10 MiB quota: a new 7 MiB version of the same file fits once the old one is gone
  const v2 = await makeFile(path.join(local, 'v2.bin'), 7 * MiB);
  const replaced = await carol.upload(v2, '/doc.bin', { overwrite: true });
  assert.is(await sha256File(path.join(t.root, 'carol', 'doc.bin')), replaced.sha256);

  // an interrupted resumable upload of 2.5 MiB keeps some bytes; resuming it must still fit (7 + 2.5 <= 10)
  const small = await makeFile(path.join(local, 'small.bin'), 2.5 * MiB);
  const first = await t.connect('carol');
  let fired = false;
  await rejects(
    first.upload(small, '/small.bin', {
      resume: true,
      onProgress: (p) => {
        if (!fired && p.bytes >= MiB) {
          fired = true;
          void first.close();
        }
      },
    }),
    'ECLOSED',
  );
  await waitFor(() => t.server.connectionCount === 1, 3000, 'the dropped connection to go');
  const kept = await tempFiles(t.root);
  assert.is(kept.length, 1);
  assert.ok((await sizeOf(path.join(t.root, kept[0]!))) > 0);
  const resumed = await carol.upload(small, '/small.bin', { resume: true });
  assert.is(resumed.sha256, await sha256File(small));
});

test('quota: concurrent uploads cannot overrun it together, announced or not', async () => {
  const t = await testServer({ users: quotaUsers });
  const local = await tempDir();
  const six = await makeFile(path.join(local, 'six.bin'), 6 * MiB);
  const clients = await Promise.all([t.connect('carol'), t.connect('carol'), t.connect('carol')]);
  // three announced 6 MiB uploads at once into 10 MiB: one fits, the others are EQUOTA
  const announced = await Promise.allSettled(clients.map((c, i) => c.upload(six, `/a${i}.bin`)));
  const stored = announced.filter((r) => r.status === 'fulfilled').length;
  for (const r of announced) if (r.status === 'rejected') assert.is((r.reason as { code?: string }).code, 'EQUOTA');
  assert.is(stored, 1, `${stored} uploads of 6 MiB were stored under a 10 MiB quota`);
  // three unannounced 3 MiB streams at once into the 4 MiB left: at most one fits
  const streams = await Promise.allSettled(
    clients.map((c, i) => c.upload(Readable.from([Buffer.alloc(MiB), Buffer.alloc(MiB), Buffer.alloc(MiB)]), `/s${i}.bin`)),
  );
  for (const r of streams) if (r.status === 'rejected') assert.is((r.reason as { code?: string }).code, 'EQUOTA');
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 3000, 'temp files to go');
  const total = (await walk(path.join(t.root, 'carol'))).length;
  let bytes = 0;
  for (const name of await fsp.readdir(path.join(t.root, 'carol'))) bytes += await sizeOf(path.join(t.root, 'carol', name));
  assert.ok(bytes <= 10 * MiB, `${bytes} bytes stored in ${total} files under a 10 MiB quota`);
});

// ---- homes and permissions ------------------------------------------------------------------

test('homes are chroot-like; a read-only user gets EACCES on every write; delete needs its own permission', async () => {
  const users = {
    alice: { password: 'alice-password', home: 'homes/alice' },
    reader: { password: 'reader-password', home: 'homes/alice', permissions: ['read' as const] },
    writer: { password: 'writer-password', home: 'homes/alice', permissions: ['read' as const, 'write' as const] },
  };
  const t = await testServer({ users });
  const alice = await t.connect('alice');
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'a.bin'), 1000);
  await alice.upload(file, '/a.bin');
  await alice.mkdir('/dir');
  assert.equal(
    (await alice.list('/')).map((e) => e.name),
    ['a.bin', 'dir'],
  );
  assert.ok(await fsp.stat(path.join(t.root, 'homes', 'alice', 'a.bin')));
  await rejects(alice.list('/../..'), 'EACCES');

  const reader = await t.connect('reader');
  assert.equal(
    (await reader.list('/')).map((e) => e.name),
    ['a.bin', 'dir'],
  );
  await reader.download('/a.bin', path.join(local, 'copy.bin'));
  await rejects(reader.upload(file, '/b.bin'), 'EACCES');
  await rejects(reader.upload(file, '/a.bin', { overwrite: true }), 'EACCES');
  await rejects(reader.upload(file, '/r.bin', { resume: true }), 'EACCES');
  await rejects(reader.mkdir('/new'), 'EACCES');
  await rejects(reader.rename('/a.bin', '/c.bin'), 'EACCES');
  await rejects(reader.delete('/a.bin'), 'EACCES');
  await rejects(reader.rmdir('/dir'), 'EACCES');

  const writer = await t.connect('writer');
  await writer.upload(file, '/w.bin');
  await rejects(writer.delete('/w.bin'), 'EACCES');
  await rejects(writer.rmdir('/dir'), 'EACCES');
  assert.equal(await walk(path.join(t.root, 'homes', 'alice')), ['a.bin', 'dir', 'w.bin']);
  assert.equal(await tempFiles(t.root), []);
});

test('a client made with the public constructor honours localAddress (the basis of the per-address tests)', async () => {
  if (!(await hasLoopbackAlias())) {
    console.log('  (skipped: 127.0.0.2 is not usable on this machine)');
    return;
  }
  const t = await testServer();
  const seen: string[] = [];
  t.server.on('connection', (info) => seen.push(info.remoteAddress));
  const client = new FileShareClient({ host: '127.0.0.1', port: t.port, localAddress: '127.0.0.2' });
  defer(() => client.close());
  await client.connect();
  assert.equal(
    seen.map((a) => a.replace(/^::ffff:/, '')),
    ['127.0.0.2'],
  );
});

test('path depth: a recursive mkdir deeper than 128 folders is EINVAL at once; 128 deep works and the session still closes promptly', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  defer(() => void raw.socket.destroy());
  await raw.login('alice', 'alice-password');
  const tooDeep = `/${Array.from({ length: 2000 }, () => 'd').join('/')}`;
  raw.request(3, { op: 'mkdir', path: tooDeep, recursive: true });
  const refused = await raw.next(isError(3), 5000);
  assert.is(refused.type, FrameType.ERROR);
  assert.is(json(refused).code, 'EINVAL');
  const deepest = `/${Array.from({ length: 128 }, (_, i) => `d${i % 10}`).join('/')}`;
  raw.request(5, { op: 'mkdir', path: deepest, recursive: true });
  const made = await raw.next(isError(5), 30_000);
  assert.is(made.type, FrameType.RESPONSE, JSON.stringify(json(made)));
  assert.ok((await fsp.stat(path.join(t.root, ...deepest.split('/').slice(1)))).isDirectory());
  raw.socket.end();
  await waitFor(() => t.server.connectionCount === 0, 10_000, 'the session to close');
});

test.run();
