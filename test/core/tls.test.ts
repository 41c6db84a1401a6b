/** TLS: CA validation with a matching name, certificate pinning, and the ways it must fail. */
import { PassThrough, Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConnectionInfo } from '../../src/index.ts';
import { type TestCertificate, testCertificate } from '../tls-certs.ts';
import { RawClient, dispose, failure, randomData, rejects, sha256, testServer, within } from './helpers.ts';

test.after.each(dispose);

type Pems = TestCertificate;

/** A self-signed certificate for `localhost` (and 127.0.0.1 unless `dnsOnly`). */
function certificate(dnsOnly = false): Promise<Pems> {
  return testCertificate('server', { altNames: dnsOnly ? 'dns' : 'dns+ip' });
}

async function roundTrip(client: Awaited<ReturnType<Awaited<ReturnType<typeof testServer>>['client']>>): Promise<void> {
  await client.login('alice', 'alice-password');
  const data = randomData(700_000);
  await client.upload(Readable.from([data]), '/secret.bin', { overwrite: true });
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  const result = await client.download('/secret.bin', sink);
  assert.is(result.sha256, sha256(data));
  assert.ok(Buffer.concat(chunks).equals(data));
  assert.ok((await client.ping()) >= 0);
}

test('a TLS round trip validated against the CA, with the server name matching', async () => {
  const { key, cert } = await certificate(true);
  const t = await testServer({ server: { tls: { key, cert } } });
  const connections: ConnectionInfo[] = [];
  t.server.on('connection', (c) => connections.push(c));
  const client = await t.client({ tls: { ca: cert, servername: 'localhost' } });
  await roundTrip(client);
  assert.is(connections[0]?.secure, true);
});

test('a TLS round trip to an IP address in the certificate, validated against the CA', async () => {
  const { key, cert } = await certificate();
  const t = await testServer({ server: { tls: { key, cert } } });
  await roundTrip(await t.client({ tls: { ca: cert } }));
});

test('a TLS round trip with the certificate pinned by its SHA-256 fingerprint (no CA)', async () => {
  const { key, cert, fingerprint256 } = await certificate(true);
  const t = await testServer({ server: { tls: { key, cert } } });
  await roundTrip(await t.client({ tls: { fingerprint256 } }));
  // colons and case do not matter
  await roundTrip(await t.client({ tls: { fingerprint256: fingerprint256.replace(/:/g, '').toLowerCase() } }));
});

test('a wrong pin is ETLS, and nothing is sent', async () => {
  const { key, cert, fingerprint256 } = await certificate(true);
  const t = await testServer({ server: { tls: { key, cert } } });
  let logins = 0;
  t.server.on('login', () => logins++);
  const wrong = fingerprint256.startsWith('00') ? `11${fingerprint256.slice(2)}` : `00${fingerprint256.slice(2)}`;
  await rejects(t.client({ tls: { fingerprint256: wrong } }), 'ETLS');
  assert.is(logins, 0);
});

test('an untrusted certificate is ETLS; so is a name that does not match', async () => {
  const { key, cert } = await certificate(true);
  const t = await testServer({ server: { tls: { key, cert } } });
  await rejects(t.client({ tls: true }), 'ETLS');
  await rejects(t.client({ tls: { ca: cert, servername: 'not-this-host.example' } }), 'ETLS');
  await rejects(t.client({ tls: { ca: cert } }), 'ETLS'); // 127.0.0.1 is not in this certificate
});

test('a plaintext client to a TLS server, and a TLS client to a plaintext server, fail cleanly', async () => {
  const { key, cert } = await certificate();
  const secure = await testServer({ server: { tls: { key, cert } } });
  const err = await within(failure(secure.client({ connectTimeout: 3000 })), 5000, 'plain to TLS');
  assert.is(err.code, 'ECLOSED');
  const plain = await testServer();
  await rejects(within(plain.client({ tls: { ca: cert }, connectTimeout: 3000 }), 5000, 'TLS to plain'), 'ETLS');
  // both servers still serve proper clients
  await (await secure.client({ tls: { ca: cert } })).ping();
  await (await plain.client()).ping();
});

test('a TCP client that never starts its TLS handshake is dropped after handshakeTimeout', async () => {
  const { key, cert } = await certificate();
  const t = await testServer({ server: { tls: { key, cert }, handshakeTimeout: 300 } });
  const raw = await RawClient.connect(t.port);
  await raw.waitClosed(5000);
});

test('server.close() does not wait for a client stuck before its TLS handshake', async () => {
  const { key, cert } = await certificate();
  const t = await testServer({ server: { tls: { key, cert } } });
  const raw = await RawClient.connect(t.port);
  const good = await t.client({ tls: { ca: cert } });
  await good.login('alice', 'alice-password');
  await within(t.server.close(), 3000, 'server.close()');
  await raw.waitClosed(1000);
  assert.not.ok(good.connected);
});

test.run();
