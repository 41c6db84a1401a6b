/** `client.listPages()`: a folder batch by batch, its failures, leaving early, and a bad `sorted` on the wire. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entry } from '../../src/index.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import { RawClient, defer, dispose, json, rejects, testServer } from './helpers.ts';

test.after.each(dispose);

async function collect(pages: AsyncIterable<Entry[]>): Promise<Entry[][]> {
  const batches: Entry[][] = [];
  for await (const batch of pages) batches.push(batch);
  return batches;
}

test('a local folder arrives sorted by name in batches of at most 500, and equals list()', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'many', 'sub'), { recursive: true });
  const names = Array.from({ length: 1203 }, (_, i) => `f${String(1203 - i).padStart(4, '0')}.txt`);
  for (const name of names) await fsp.writeFile(path.join(t.root, 'many', name), 'x');
  const client = await t.connect();
  const batches = await collect(client.listPages('/many'));
  assert.ok(batches.length >= 3, `${batches.length} batches`);
  assert.ok(batches.every((b) => b.length <= 500));
  const flat = batches.flat();
  assert.equal(flat, await client.list('/many'));
  assert.equal(
    flat.map((e) => e.name),
    [...names, 'sub'].sort(),
  );
});

test('a missing folder, a file and a folder without read permission reject from the loop with their codes', async () => {
  const t = await testServer({ users: { alice: 'alice-password', bob: { password: 'bob-password', permissions: ['write'] } } });
  await fsp.writeFile(path.join(t.root, 'file.txt'), 'x');
  const client = await t.connect();
  await rejects(collect(client.listPages('/missing')), 'ENOENT');
  await rejects(collect(client.listPages('/file.txt')), 'ENOTDIR');
  const bob = await t.connect('bob');
  await rejects(collect(bob.listPages('/')), 'EACCES');
  assert.ok((await client.ping()) >= 0, 'the connection is still fine');
});

test('leaving the loop early cancels the listing; the connection goes on; an aborted signal rejects EABORTED', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'many'));
  for (let i = 0; i < 1500; i++) await fsp.writeFile(path.join(t.root, 'many', `f${String(i).padStart(4, '0')}`), '');
  const client = await t.connect();
  let seen = 0;
  for await (const batch of client.listPages('/many')) {
    seen += batch.length;
    break;
  }
  assert.ok(seen > 0 && seen < 1500, `${seen} entries before leaving`);
  assert.is((await client.list('/many')).length, 1500);
  const controller = new AbortController();
  controller.abort();
  await rejects(collect(client.listPages('/many', { signal: controller.signal })), 'EABORTED');
  assert.ok((await client.ping()) >= 0);
});

test('on the wire: `sorted` must be a boolean (EINVAL), and `sorted: false` still answers with the count', async () => {
  const t = await testServer();
  await fsp.mkdir(path.join(t.root, 'd'));
  await fsp.writeFile(path.join(t.root, 'd', 'a'), '');
  const raw = await RawClient.connect(t.port);
  defer(() => void raw.socket.destroy());
  await raw.login('alice', 'alice-password');
  raw.request(3, { op: 'list', path: '/d', sorted: 'no' });
  const error = await raw.next((f) => f.stream === 3 && f.type === FrameType.ERROR, 5000);
  assert.is(json(error).code, 'EINVAL');
  raw.request(5, { op: 'list', path: '/d', sorted: false });
  const done = await raw.next((f) => f.stream === 5 && f.type === FrameType.RESPONSE, 5000);
  assert.equal(json(done), { count: 1 });
});

test.run();
