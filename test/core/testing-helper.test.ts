/** The `fileshare/testing` helper itself, imported the way users import it. */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError, MemoryAuthProvider, hashPassword } from 'fileshare';
import { createTestServer, type TestServer } from 'fileshare/testing';
import { rejects } from './helpers.ts';

let current: TestServer | undefined;
test.after.each(async () => {
  await current?.close();
  current = undefined;
});

test('defaults: alice on 127.0.0.1, a fresh temp folder, connect() logs in', async () => {
  const t = (current = await createTestServer());
  assert.ok(t.port > 0);
  assert.ok(t.root.startsWith(os.tmpdir()) || t.root.includes('fileshare-test-'), t.root);
  assert.equal(await fsp.readdir(t.root), []);
  assert.is(t.server.address().address, '127.0.0.1');
  const client = await t.connect();
  assert.is(client.loggedInAs?.username, 'alice');
  await client.mkdir('/reports');
  assert.equal(
    (await client.list('/')).map((e) => e.name),
    ['reports'],
  );
  assert.ok((await fsp.stat(path.join(t.root, 'reports'))).isDirectory());
});

test('client() is connected but not logged in; connect() takes a user and an explicit password', async () => {
  const t = (current = await createTestServer({
    users: { alice: 'a-pw', bob: { password: 'b-pw', home: 'bob', permissions: ['read'] } },
  }));
  const anonymous = await t.client();
  assert.ok(anonymous.connected);
  assert.is(anonymous.loggedInAs, undefined);
  await rejects(anonymous.list('/'), 'ENOTAUTH');
  const bob = await t.connect('bob');
  assert.equal(
    { username: bob.loggedInAs?.username, permissions: bob.loggedInAs?.permissions },
    { username: 'bob', permissions: ['read'] },
  );
  assert.ok((await fsp.stat(path.join(t.root, 'bob'))).isDirectory());
  await rejects(t.connect('alice', 'wrong'), 'EAUTH');
  const err = await t.connect('nobody').catch((e: unknown) => e);
  assert.instance(err, FileShareError);
  assert.is((err as FileShareError).code, 'EAUTH');
});

test('close() closes every client and the server, and removes the folder; events fire', async () => {
  const t = await createTestServer();
  const a = await t.connect();
  const b = await t.client();
  let serverClosed = false;
  t.server.on('close', () => (serverClosed = true));
  await t.close();
  assert.not.ok(a.connected);
  assert.not.ok(b.connected);
  assert.ok(serverClosed);
  assert.not.ok(await fsp.stat(t.root).catch(() => null));
  await rejects(a.ping(), 'ECLOSED');
});

test('server and client options pass through; a given auth provider replaces users', async () => {
  const auth = new MemoryAuthProvider({ users: { carol: { passwordHash: await hashPassword('c-pw') } } });
  const t = (current = await createTestServer({
    auth,
    users: { carol: 'c-pw' },
    server: { maxConnections: 1 },
    client: { requestTimeout: 5000 },
  }));
  const carol = await t.connect('carol');
  assert.is(carol.loggedInAs?.username, 'carol');
  await rejects(t.client(), 'EBUSY');
});

test.run();
