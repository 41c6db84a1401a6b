/** Every command's success and failure paths, over a real socket against a real temp folder. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { dispose, rejects, testServer, waitFor, within } from './helpers.ts';

test.after.each(dispose);

test('login succeeds and reports the user and permissions', async () => {
  const t = await testServer();
  const client = await t.client();
  const result = await client.login('alice', 'alice-password');
  assert.equal(
    { username: result.username, permissions: result.permissions },
    { username: 'alice', permissions: ['read', 'write', 'delete'] },
  );
  assert.ok(result.resumeToken, 'a resumption token');
  assert.equal(client.loggedInAs, result);
});

test('login twice on one connection is EINVAL; a bad argument is EINVAL', async () => {
  const t = await testServer();
  const client = await t.connect('alice');
  await rejects(client.login('alice', 'alice-password'), 'EINVAL');
  const other = await t.client();
  await rejects(other.login('x'.repeat(300), 'pw'), 'EINVAL');
});

test('logout is acknowledged, then the server closes the connection', async () => {
  const t = await testServer();
  const client = await t.connect('alice');
  let closeEvents = 0;
  client.on('close', () => closeEvents++);
  await within(client.logout(), 5000, 'logout');
  assert.is(client.connected, false);
  assert.is(client.loggedInAs, undefined);
  await waitFor(() => closeEvents === 1, 2000, 'the close event');
  await rejects(client.list('/'), 'ECLOSED');
  await waitFor(() => t.server.connectionCount === 0, 2000, 'the server to drop the session');
});

test('a client can connect again after close() and after logout()', async () => {
  const t = await testServer();
  const client = await t.connect();
  await rejects(client.connect(), 'EINVAL');
  await client.close();
  await client.connect();
  await client.login('alice', 'alice-password');
  await client.logout();
  await client.connect();
  await client.login('alice', 'alice-password');
  assert.is((await client.stat('/')).type, 'directory');
});

test('logout before login is ENOTAUTH', async () => {
  const t = await testServer();
  const client = await t.client();
  await rejects(client.logout(), 'ENOTAUTH');
});

test('list returns sorted entries with types and sizes; ENOENT and ENOTDIR', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'b-dir'));
  await fsp.writeFile(path.join(t.root, 'a.txt'), 'hello');
  await fsp.writeFile(path.join(t.root, 'c.bin'), Buffer.alloc(10));
  const client = await t.connect();
  const entries = await client.list('/');
  assert.equal(
    entries.map((e) => [e.name, e.type, e.size]),
    [
      ['a.txt', 'file', 5],
      ['b-dir', 'directory', entries[1]!.size],
      ['c.bin', 'file', 10],
    ],
  );
  assert.ok(entries.every((e) => typeof e.mtime === 'number' && e.mtime > 0));
  assert.equal(await client.list('/b-dir'), []);
  await rejects(client.list('/missing'), 'ENOENT');
  await rejects(client.list('/a.txt'), 'ENOTDIR');
});

test('list of a folder with 1,200 entries arrives in batches and returns them all', async () => {
  const t = await testServer();
  const dir = path.join(t.root, 'many');
  await fsp.mkdir(dir);
  const names = Array.from({ length: 1200 }, (_, i) => `f${String(i).padStart(4, '0')}.txt`);
  for (let i = 0; i < names.length; i += 100) {
    await Promise.all(names.slice(i, i + 100).map((n) => fsp.writeFile(path.join(dir, n), n)));
  }
  const client = await t.connect();
  const entries = await client.list('/many');
  assert.is(entries.length, 1200);
  assert.equal(
    entries.map((e) => e.name),
    names,
  );
});

test('list batches fit the frame size the client announced, however long the names', async () => {
  const t = await testServer();
  const names = Array.from({ length: 60 }, (_, i) => `${String(i).padStart(2, '0')}-${'\u00e9'.repeat(120)}`);
  for (const n of names) await fsp.writeFile(path.join(t.root, n), 'x');
  const client = await t.client({ maxFrameSize: 4096 });
  await client.login('alice', 'alice-password');
  const entries = await client.list('/');
  assert.equal(
    entries.map((e) => e.name),
    names,
  );
  assert.ok(client.connected);
});

test('stat of a file, a folder and the root; ENOENT', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'd'));
  await fsp.writeFile(path.join(t.root, 'd', 'f.txt'), 'abc');
  const client = await t.connect();
  const file = await client.stat('/d/f.txt');
  assert.is(file.name, 'f.txt');
  assert.is(file.type, 'file');
  assert.is(file.size, 3);
  assert.is((await client.stat('/d')).type, 'directory');
  assert.is((await client.stat('/')).type, 'directory');
  await rejects(client.stat('/d/nope'), 'ENOENT');
});

test('mkdir creates a folder; EEXIST, ENOENT without recursive; recursive creates parents and tolerates existing', async () => {
  const t = await testServer();
  const client = await t.connect();
  await client.mkdir('/a');
  assert.ok((await fsp.stat(path.join(t.root, 'a'))).isDirectory());
  await rejects(client.mkdir('/a'), 'EEXIST');
  await rejects(client.mkdir('/x/y/z'), 'ENOENT');
  await client.mkdir('/x/y/z', { recursive: true });
  assert.ok((await fsp.stat(path.join(t.root, 'x', 'y', 'z'))).isDirectory());
  await client.mkdir('/x/y', { recursive: true });
  await fsp.writeFile(path.join(t.root, 'file'), 'f');
  await rejects(client.mkdir('/file/sub', { recursive: true }), 'ENOTDIR');
  await rejects(client.mkdir('/file'), 'EEXIST');
});

test('rmdir removes an empty folder; ENOTEMPTY unless recursive; ENOENT; ENOTDIR; the root is refused', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'empty'));
  await fsp.mkdir(path.join(t.root, 'full', 'sub'), { recursive: true });
  await fsp.writeFile(path.join(t.root, 'full', 'sub', 'f.txt'), 'x');
  await fsp.writeFile(path.join(t.root, 'file'), 'x');
  const client = await t.connect();
  await client.rmdir('/empty');
  assert.not.ok(await fsp.stat(path.join(t.root, 'empty')).catch(() => null));
  await rejects(client.rmdir('/full'), 'ENOTEMPTY');
  assert.ok(await fsp.stat(path.join(t.root, 'full', 'sub', 'f.txt')));
  await client.rmdir('/full', { recursive: true });
  assert.not.ok(await fsp.stat(path.join(t.root, 'full')).catch(() => null));
  await rejects(client.rmdir('/empty'), 'ENOENT');
  await rejects(client.rmdir('/file'), 'ENOTDIR');
  await rejects(client.rmdir('/'), 'EACCES');
  await rejects(client.rmdir('/', { recursive: true }), 'EACCES');
  assert.ok((await fsp.stat(t.root)).isDirectory());
});

test('delete removes a file; EISDIR for a folder; ENOENT for a missing file', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'f.txt'), 'x');
  await fsp.mkdir(path.join(t.root, 'd'));
  const client = await t.connect();
  await client.delete('/f.txt');
  assert.not.ok(await fsp.stat(path.join(t.root, 'f.txt')).catch(() => null));
  await rejects(client.delete('/d'), 'EISDIR');
  await rejects(client.delete('/'), 'EISDIR');
  await rejects(client.delete('/f.txt'), 'ENOENT');
  assert.ok((await fsp.stat(path.join(t.root, 'd'))).isDirectory());
});

test('rename moves files and folders; EEXIST rather than overwrite; ENOENT', async () => {
  const t = await testServer();
  await fsp.writeFile(path.join(t.root, 'a.txt'), 'A');
  await fsp.writeFile(path.join(t.root, 'b.txt'), 'B');
  await fsp.mkdir(path.join(t.root, 'dir'));
  const client = await t.connect();
  await client.rename('/a.txt', '/dir/a2.txt');
  assert.is(await fsp.readFile(path.join(t.root, 'dir', 'a2.txt'), 'utf8'), 'A');
  await rejects(client.rename('/b.txt', '/dir/a2.txt'), 'EEXIST');
  assert.is(await fsp.readFile(path.join(t.root, 'dir', 'a2.txt'), 'utf8'), 'A');
  assert.is(await fsp.readFile(path.join(t.root, 'b.txt'), 'utf8'), 'B');
  await rejects(client.rename('/nope', '/x'), 'ENOENT');
  await client.rename('/dir', '/dir2');
  assert.is(await fsp.readFile(path.join(t.root, 'dir2', 'a2.txt'), 'utf8'), 'A');
  await rejects(client.rename('/dir2', '/dir2/inside'), 'EINVAL');
});

test('server events report changes to the tree', async () => {
  const t = await testServer();
  const seen: string[] = [];
  for (const event of ['mkdir', 'rmdir', 'delete', 'rename', 'upload', 'download', 'login'] as const) {
    t.server.on(event, (e: { path?: string; username: string }) => seen.push(`${event}:${e.path ?? e.username}`));
  }
  const client = await t.connect();
  await client.mkdir('/d');
  await client.upload(Readable.from([Buffer.from('x')]), '/d/f');
  await client.download('/d/f', new PassThrough().resume());
  await client.rename('/d/f', '/d/g');
  await client.delete('/d/g');
  await client.rmdir('/d');
  assert.equal(seen, ['login:alice', 'mkdir:/d', 'upload:/d/f', 'download:/d/f', 'rename:/d/f', 'delete:/d/g', 'rmdir:/d']);
});

test('ping resolves to a round-trip time and emits a metrics event; ping works before login', async () => {
  const t = await testServer();
  const client = await t.client();
  const events: number[] = [];
  client.metrics.on('ping', (e) => events.push(e.rttMs));
  const rtt = await client.ping();
  assert.ok(rtt >= 0 && Number.isFinite(rtt));
  await client.login('alice', 'alice-password');
  await client.ping();
  assert.is(events.length, 2);
});

test('ping on a closed client is ECLOSED; on a never-connected client too', async () => {
  const t = await testServer();
  const client = await t.connect();
  await client.close();
  await rejects(client.ping(), 'ECLOSED');
  await rejects(new FileShareClient({ port: t.port }).ping(), 'ECLOSED');
});

test('measure returns a summary of pings and throughput', async () => {
  const t = await testServer();
  const client = await t.connect();
  const pings: number[] = [];
  client.metrics.on('ping', (e) => pings.push(e.seq));
  const summary = await within(client.measure({ pings: 5, intervalMs: 5, throughputBytes: 1024 * 1024 }), 10_000, 'measure');
  assert.is(pings.length, 5);
  assert.is(summary.totalPings, 5);
  assert.is(summary.successfulPings, 5);
  assert.is(summary.packetLossPercent, 0);
  assert.is(summary.samples.length, 5);
  assert.ok(summary.minLatencyMs <= summary.p50LatencyMs && summary.p50LatencyMs <= summary.maxLatencyMs);
  assert.ok(Number.isFinite(summary.averageLatencyMs));
  assert.ok(summary.throughputMBps > 0);
});

test('measure stopped by its signal resolves to the summary so far', async () => {
  const t = await testServer();
  const client = await t.connect();
  const controller = new AbortController();
  client.metrics.on('ping', (e) => {
    if (e.seq === 2) controller.abort();
  });
  const summary = await within(client.measure({ pings: 50, intervalMs: 10, signal: controller.signal }), 5000, 'measure');
  assert.ok(summary.totalPings >= 2 && summary.totalPings < 50, `stopped early: ${summary.totalPings}`);
  assert.is(summary.throughputMBps, 0);
});

test('measure needs a login (its throughput part is a request) and validates its options', async () => {
  const t = await testServer();
  const client = await t.client();
  await rejects(client.measure({ pings: 1, intervalMs: 0, throughputBytes: 1024 }), 'ENOTAUTH');
  const logged = await t.connect();
  try {
    await logged.measure({ pings: -1 });
    assert.unreachable('pings: -1 must throw');
  } catch (err) {
    assert.instance(err, TypeError);
  }
  const controller = new AbortController();
  controller.abort();
  await rejects(logged.measure({ signal: controller.signal }), 'EABORTED');
});

test('measure with throughputBytes 0 only pings', async () => {
  const t = await testServer();
  const client = await t.client();
  await client.measure({ pings: 2, intervalMs: 0, throughputBytes: 0 });
});

test.run();
