/**
 * A connection the server refuses (it is full: `maxConnections`, or the per-address cap) is told
 * apart from one that is dropped: the first fails `connect()` with EBUSY and says the server
 * refused it; the second fails what is in flight with ECLOSED and says the connection was lost.
 * Real servers on 127.0.0.1; the drop is a real TCP connection cut in a relay between the two.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, type FileShareError } from '../../src/index.ts';
import { describeError } from '../../examples/cli-client/src/errors.ts';
import { defer, dispose, failure, testServer, waitFor } from './helpers.ts';

test.after.each(dispose);

/** A client connected through `port` (the relay), closed after the test. */
async function clientVia(port: number): Promise<FileShareClient> {
  const client = new FileShareClient({ port });
  defer(() => client.close());
  await client.connect();
  return client;
}

/** A TCP relay to `port` whose connections can be cut (both sockets destroyed: the link is gone). */
async function cuttableRelay(port: number): Promise<{ port: number; cut(): void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port });
    for (const s of [inbound, outbound]) s.on('error', () => {});
    sockets.push(inbound, outbound);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  defer(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

test('refused: a connection over maxConnections fails connect() with EBUSY, saying the server refused it', async () => {
  const t = await testServer({ server: { maxConnections: 1 } });
  await t.client();
  const refused = await failure(t.client());
  assert.is(refused.code, 'EBUSY');
  assert.match(refused.message, /refused the connection/);
  assert.match(refused.message, /the server is full \(1 connections\)/);
  const cli = describeError(refused);
  assert.is(cli.code, 'EBUSY');
  assert.match(cli.message, /^127\.0\.0\.1:\d+ refused the connection: the server is full \(1 connections\); try again later$/);
  assert.not.match(cli.message, /lost/);
});

test('refused: the per-address cap fails connect() with EBUSY too, and names the address', async () => {
  const t = await testServer({ server: { maxConnectionsPerAddress: 1, maxConnections: 10 } });
  await t.client();
  const refused = await failure(t.client());
  assert.is(refused.code, 'EBUSY');
  assert.match(refused.message, /refused the connection: too many connections from 127\.0\.0\.1/);
  assert.match(describeError(refused).message, /refused the connection: too many connections from 127\.0\.0\.1; try again later$/);
});

test('dropped: a connection cut under a logged-in client fails its calls with ECLOSED, saying it was lost', async () => {
  const t = await testServer();
  const relay = await cuttableRelay(t.port);
  const client = await clientVia(relay.port);
  await client.login('alice', 'alice-password');
  await client.list('/');
  const closes: Array<FileShareError | undefined> = [];
  client.on('close', (error) => closes.push(error));
  relay.cut();
  await waitFor(() => !client.connected, 10_000, 'the client to notice the drop');
  const dropped = await failure(client.list('/'));
  assert.is(dropped.code, 'ECLOSED');
  assert.not.match(dropped.message, /refused/);
  assert.is(closes.length, 1);
  assert.is(closes[0]?.code, 'ECLOSED', 'the close event says why');
  assert.match(closes[0]!.message, /connection lost/);
  const cli = describeError(dropped);
  assert.is(cli.code, 'ECLOSED');
  assert.match(cli.message, /^connection lost/);
  // the server is not full: a new connection gets in
  const again = await t.client();
  assert.ok(again.connected);
});

test('dropped: a cut during a request in flight rejects it with ECLOSED, not EBUSY', async () => {
  const t = await testServer();
  const relay = await cuttableRelay(t.port);
  const client = await clientVia(relay.port);
  await client.login('alice', 'alice-password');
  const ping = client.ping({ timeout: 60_000 });
  relay.cut();
  const dropped = await failure(ping);
  assert.is(dropped.code, 'ECLOSED');
  assert.match(describeError(dropped).message, /^connection lost/);
});

test.run();
