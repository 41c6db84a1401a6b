/** Many clients at once, and the server's connection limits. */
import { Readable, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileShareClient } from '../../src/index.ts';
import { dispose, randomData, rejects, sha256, testServer, waitFor, within } from './helpers.ts';

test.after.each(dispose);

function collect(): Writable & { data(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return Object.assign(w, { data: () => Buffer.concat(chunks) });
}

test('50 concurrent clients each log in, upload and download a small file with 0 errors', async () => {
  const t = await testServer({ server: { maxConnectionsPerAddress: 64 } });
  const errors: unknown[] = [];
  t.server.on('error', (e) => errors.push(e));
  const run = async (i: number) => {
    const client: FileShareClient = await t.connect();
    const data = randomData(10_000 + i * 97);
    const up = await client.upload(Readable.from([data]), `/client-${i}.bin`);
    assert.is(up.sha256, sha256(data));
    const sink = collect();
    const down = await client.download(`/client-${i}.bin`, sink);
    assert.is(down.sha256, sha256(data));
    assert.ok(sink.data().equals(data));
    await client.logout();
  };
  const results = await within(Promise.allSettled(Array.from({ length: 50 }, (_, i) => run(i))), 50_000, '50 clients');
  const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
  assert.equal(failures, []);
  assert.equal(errors, []);
  assert.is((await (await t.connect()).list('/')).length, 50);
});

test('maxConnections: 2 → a third client gets EBUSY at connect; a slot frees when one leaves', async () => {
  const t = await testServer({ server: { maxConnections: 2 } });
  const a = await t.client();
  const b = await t.client();
  await rejects(t.client(), 'EBUSY');
  await a.close();
  await waitFor(() => t.server.connectionCount === 1, 3000, 'the server to see the close');
  const c = await t.client();
  await c.login('alice', 'alice-password');
  await b.ping();
});

test('maxConnectionsPerAddress limits connections from one address', async () => {
  const t = await testServer({ server: { maxConnectionsPerAddress: 1 } });
  await t.client();
  await rejects(t.client(), 'EBUSY');
});

test.run();
