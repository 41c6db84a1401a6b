/**
 * Smaller leaks of information and semantics, over real sockets and a real folder: probing the
 * host's files through a link that leads outside, a trailing slash on a file's path, the caller's
 * Writable after a failed download, and close() while connect() is under way.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { defer, dispose, makeFile, rejects, tempDir, testServer, waitFor, within } from './helpers.ts';

test.after.each(dispose);

test('a link leading outside the root answers the same whether or not its target exists: no probing of the host', async () => {
  const outside = await tempDir('fileshare-host-');
  await fsp.writeFile(path.join(outside, 'exists.txt'), 'host file');
  const t = await testServer();
  await fsp.symlink(path.join(outside, 'exists.txt'), path.join(t.root, 'to-existing'));
  await fsp.symlink(path.join(outside, 'missing.txt'), path.join(t.root, 'to-missing'));
  await fsp.symlink(outside, path.join(t.root, 'host'));
  const client = await t.connect();
  const local = await tempDir();
  const codes = async (remote: string) => {
    const answers: string[] = [];
    for (const call of [
      () => client.stat(remote),
      () => client.download(remote, path.join(local, 'x')),
      () => client.list(remote),
      () => client.delete(remote),
      () => client.rename(remote, '/moved'),
    ]) {
      answers.push(
        await call().then(
          () => 'ok',
          (err: { code?: string }) => String(err.code),
        ),
      );
    }
    return answers;
  };
  const existing = await codes('/to-existing');
  assert.equal(existing, ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES']);
  assert.equal(await codes('/to-missing'), existing, 'a missing outside file answers differently from an existing one');
  assert.equal(await codes('/host/exists.txt'), existing);
  assert.equal(await codes('/host/missing.txt'), existing, 'a missing file in an outside folder answers differently');
  assert.is(await fsp.readFile(path.join(outside, 'exists.txt'), 'utf8'), 'host file');
});

test('a trailing slash names a folder: a file written "file.txt/" is ENOTDIR for every operation, the file untouched', async () => {
  const t = await testServer();
  const client = await t.connect();
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'a.txt'), 100);
  await client.upload(file, '/a.txt');
  await rejects(client.stat('/a.txt/'), 'ENOTDIR');
  await rejects(client.stat('/a.txt/.'), 'ENOTDIR');
  await rejects(client.download('/a.txt/', path.join(local, 'copy.txt')), 'ENOTDIR');
  await rejects(client.delete('/a.txt/'), 'ENOTDIR');
  await rejects(client.upload(file, '/a.txt/', { overwrite: true }), 'ENOTDIR');
  await rejects(client.rename('/a.txt/', '/b.txt'), 'ENOTDIR');
  await rejects(client.rename('/a.txt', '/b.txt/'), 'ENOTDIR');
  await rejects(client.upload(file, '/new.txt/'), 'EISDIR');
  assert.equal(
    (await client.list('/')).map((e) => e.name),
    ['a.txt'],
  );
  assert.is((await client.stat('/a.txt')).size, 100);
  // folders with a trailing slash are fine
  await client.mkdir('/d/');
  assert.is((await client.stat('/d/')).type, 'directory');
  assert.equal(await client.list('/d/'), []);
  await rejects(client.rename('/a.txt', '/d/'), 'ENOTDIR'); // a file cannot become a folder
  await client.rename('/d/', '/e/');
  assert.equal(
    (await client.list('/')).map((e) => e.name),
    ['a.txt', 'e'],
  );
  await client.rmdir('/e/');
  assert.equal(
    (await client.list('/')).map((e) => e.name),
    ['a.txt'],
  );
});

test('download into a Writable: destroyed when the download fails (no error event without a listener, the rejection says why)', async () => {
  const t = await testServer();
  const client = await t.connect();
  const chunks: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(chunk), done()) });
  await rejects(client.download('/missing.bin', sink), 'ENOENT');
  assert.ok(sink.destroyed, 'the Writable was left open');
  // mid-transfer: aborted after the first bytes
  await makeFile(path.join(t.root, 'big.bin'), 8 * 1024 * 1024);
  const controller = new AbortController();
  const errors: Error[] = [];
  const slow = new Writable({
    highWaterMark: 1024,
    write: (_chunk, _enc, done) => {
      controller.abort();
      setTimeout(done, 5);
    },
  });
  slow.on('error', (err) => errors.push(err));
  await rejects(client.download('/big.bin', slow, { signal: controller.signal }), 'EABORTED');
  assert.ok(slow.destroyed);
  await waitFor(() => errors.length === 1, 2000, 'the error event for the listener');
  assert.is((errors[0] as { code?: string }).code, 'EABORTED');
  assert.ok(client.connected);
});

test('close() during connect() cancels it: ECLOSED, never connected', async () => {
  const t = await testServer();
  for (let i = 0; i < 3; i++) {
    const client = new FileShareClient({ host: '127.0.0.1', port: t.port });
    defer(() => client.close());
    const connecting = client.connect();
    const closing = client.close();
    await rejects(within(connecting, 10_000, 'the cancelled connect'), 'ECLOSED');
    await closing;
    assert.not.ok(client.connected, 'the connect went on after close()');
  }
  await waitFor(() => t.server.connectionCount === 0, 5000, 'the server to see no connection left');
  // and a client that closes after connecting still works as before
  const client = await t.connect();
  await client.close();
  assert.not.ok(client.connected);
});

test.run();
