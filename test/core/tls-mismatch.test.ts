/** A plain client against a TLS server and the reverse: clear errors on the client, one warning on the server. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/index.ts';
import { testCertificate } from '../tls-certs.ts';
import { dispose, rejects, testServer } from './helpers.ts';

test.after.each(dispose);

test('plain client, TLS server: "connect with tls"; the server warns once', async () => {
  const pems = await testCertificate('server');
  const t = await testServer({ server: { tls: { key: pems.key, cert: pems.cert } } });
  const warnings: string[] = [];
  t.server.on('warning', (w) => warnings.push(w.message));
  for (let i = 0; i < 3; i++) {
    const client = new FileShareClient({ host: '127.0.0.1', port: t.port });
    const err = await rejects(client.connect(), 'ECLOSED');
    assert.match(err.message, /before its HELLO: if that server uses TLS, connect with tls/);
    await client.close();
  }
  assert.is(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /spoke plain text to this TLS server/);
});

test('TLS client, plain server: "answered in plain text, connect without tls"; the server warns once', async () => {
  const t = await testServer();
  const warnings: string[] = [];
  t.server.on('warning', (w) => warnings.push(w.message));
  for (let i = 0; i < 3; i++) {
    const client = new FileShareClient({ host: '127.0.0.1', port: t.port, tls: { rejectUnauthorized: false } });
    const err = await rejects(client.connect(), 'ETLS');
    assert.match(err.message, /answered in plain text, not TLS: .*connect without tls/);
    assert.not.match(err.message, /wrong version number/);
    await client.close();
  }
  // the warning comes from the server's side of the connection: wait for it, bounded
  for (let i = 0; i < 100 && warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.is(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /started a TLS handshake, but this server has no TLS/);
});

test.run();
