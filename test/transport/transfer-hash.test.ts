/**
 * SHA-256 of large transfers on a worker thread (src/transport/transfer-hash.ts): the same digest
 * as inline through the ring's wrap and its full-ring fallback, bounded backlog, end-to-end uploads
 * and downloads through it with corruption still caught and nothing left behind, and a thread that
 * never keeps the process alive.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeData, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import { createTransferHash, hashOffloadSettings, RING_BYTES } from '../../src/transport/transfer-hash.ts';
import { nodeEntry } from '../node-entry.ts';
import { RawClient, dispose, json, rejects, sha256, tempDir, testServer, waitFor, walk, within } from '../core/helpers.ts';

const defaults = hashOffloadSettings();
test.before.each(() => void hashOffloadSettings({ minBytes: 1 })); // everything with a known size goes to the worker
test.after.each(async () => {
  hashOffloadSettings(defaults);
  await dispose();
});

/** Feed `data` in chunks of `sizes` (cycled), waiting while the backlog exceeds `bound` (if given). */
async function hashOffloaded(data: Buffer, sizes: number[], bound?: number): Promise<{ hex: string; peak: number }> {
  let wake: (() => void) | undefined;
  const hash = createTransferHash({ size: data.length, onProgress: () => wake?.() });
  assert.ok(hash.offloaded);
  let peak = 0;
  for (let at = 0, i = 0; at < data.length; i++) {
    const chunk = data.subarray(at, at + sizes[i % sizes.length]!);
    at += chunk.length;
    hash.update(chunk);
    chunk.fill(0); // the hash copied it: the caller's memory may be reused at once
    peak = Math.max(peak, hash.backlog);
    while (bound !== undefined && hash.backlog > bound) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        hash.flush();
      });
    }
  }
  return { hex: await hash.digest(), peak };
}

test('offloaded digests equal inline ones, across the ring wrap, odd sizes and the full-ring fallback', async () => {
  const data = randomBytes(RING_BYTES * 2 + 12_345);
  const expected = createHash('sha256').update(data).digest('hex');
  // waiting for the worker: chunks go through the ring and wrap around it
  const bounded = await hashOffloaded(Buffer.from(data), [65_536, 262_144, 1, 100_003], 1 << 20);
  assert.is(bounded.hex, expected);
  // never waiting: the ring fills (the worker hashes about ten times slower than this copies) and
  // the chunks after are copied into memory of their own
  const unbounded = await hashOffloaded(Buffer.from(data), [262_144]);
  assert.is(unbounded.hex, expected);
  // several hashes interleaved on the same thread, one dropped halfway
  const a = createTransferHash({ size: 1 << 20 });
  const b = createTransferHash({ size: 1 << 20 });
  const dropped = createTransferHash({ size: 1 << 20 });
  const left = randomBytes(1 << 20);
  const right = randomBytes(1 << 20);
  for (let at = 0; at < left.length; at += 100_000) {
    a.update(left.subarray(at, at + 100_000));
    dropped.update(right.subarray(at, at + 100_000));
    if (at === 500_000) dropped.dispose();
    b.update(right.subarray(at, at + 100_000));
  }
  assert.equal(await Promise.all([a.digest(), b.digest()]), [sha256(left), sha256(right)]);
  assert.is(await createTransferHash({ size: 1 }).digest(), sha256(Buffer.alloc(0)));
});

test('small transfers, unknown sizes and seeded (resumed) hashes stay inline', () => {
  hashOffloadSettings(defaults);
  assert.not.ok(createTransferHash({ size: 1000 }).offloaded);
  assert.not.ok(createTransferHash({}).offloaded);
  assert.not.ok(createTransferHash({ size: 1 << 30, seed: createHash('sha256') }).offloaded);
  assert.ok(createTransferHash({ size: defaults.minBytes }).offloaded);
});

test('uploads and downloads hashed on the worker arrive intact, both ways, several at once', async () => {
  const t = await testServer();
  const client = await t.connect();
  const local = await tempDir();
  const files = await Promise.all(
    [3 << 20, 1, 777_777].map(async (size, i) => {
      const data = randomBytes(size);
      const file = path.join(local, `f${i}.bin`);
      await fsp.writeFile(file, data);
      return { file, data, remote: `/f${i}.bin` };
    }),
  );
  const ups = await within(Promise.all(files.map((f) => client.upload(f.file, f.remote))), 60_000, 'uploads');
  ups.forEach((up, i) => assert.is(up.sha256, sha256(files[i]!.data)));
  const downs = await within(
    Promise.all(files.map((f) => client.download(f.remote, `${f.file}.copy`))),
    60_000,
    'downloads',
  );
  for (const [i, f] of files.entries()) {
    assert.is(downs[i]!.sha256, sha256(f.data));
    assert.ok((await fsp.readFile(`${f.file}.copy`)).equals(f.data));
  }
});

test('senders and receivers that keep waiting for the worker still finish', async () => {
  // a sender waits whenever 1 MiB waits for the hash, until half of it is hashed: several answers per wait
  hashOffloadSettings({ minBytes: 1, maxBacklog: 1 << 20 });
  const t = await testServer({ server: { window: 256 * 1024 } }); // and a receiver at each quarter window
  const client = await t.connect();
  const data = randomBytes((6 << 20) + 17);
  const local = await tempDir();
  await fsp.writeFile(path.join(local, 'f.bin'), data);
  const up = await within(client.upload(path.join(local, 'f.bin'), '/f.bin'), 60_000, 'the upload');
  assert.is(up.sha256, sha256(data));
  const down = await within(client.download('/f.bin', path.join(local, 'copy.bin')), 60_000, 'the download');
  assert.is(down.sha256, sha256(data));
  assert.ok((await fsp.readFile(path.join(local, 'copy.bin'))).equals(data));
});

test('a SHA-256 mismatch is still EINTEGRITY with the worker hashing, and nothing is stored', async () => {
  const t = await testServer();
  const raw = await RawClient.connect(t.port);
  await raw.hello();
  raw.request(1, { op: 'login', username: 'alice', password: 'alice-password' });
  await raw.next((f) => f.stream === 1 && f.type === FrameType.RESPONSE);
  const data = randomBytes(300_000);
  raw.request(2, { op: 'upload', path: '/bad.bin', size: data.length });
  await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  for (let at = 0; at < data.length; at += 100_000) raw.write(encodeData(2, data.subarray(at, at + 100_000)));
  const flipped = Buffer.from(data);
  flipped[123_456]! ^= 1;
  raw.write(encodeJsonFrame(FrameType.END, 2, { bytes: data.length, sha256: sha256(flipped) }));
  const answer = await raw.next((f) => f.stream === 2 && (f.type === FrameType.ERROR || f.type === FrameType.RESPONSE));
  assert.is(answer.type, FrameType.ERROR);
  assert.is(json(answer).code, 'EINTEGRITY');
  await waitFor(async () => (await walk(t.root)).length === 0, 5000, 'the temporary file to go');
  raw.socket.destroy();
});

test('an upload failing midway (source error) leaves nothing under the target name', async () => {
  const t = await testServer();
  const client = await t.connect();
  let sent = 0;
  const source = new Readable({
    read() {
      if (sent >= 2 << 20) return void this.destroy(new Error('disk unplugged'));
      sent += 256 << 10;
      this.push(randomBytes(256 << 10));
    },
  });
  await rejects(client.upload(source, '/half.bin', { size: 8 << 20 }), 'EIO');
  await waitFor(async () => (await walk(t.root)).length === 0, 5000, 'the temporary file to go');
  // the connection (and the worker) go on serving
  const data = randomBytes(1 << 20);
  assert.is((await client.upload(Readable.from([data]), '/after.bin', { size: data.length })).sha256, sha256(data));
});

test('a process whose transfers hashed on the worker exits by itself', async () => {
  const child = spawn(process.execPath, nodeEntry(new URL('./fixtures/hash-child.ts', import.meta.url)), {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await within(new Promise<number | null>((resolve) => child.on('exit', resolve)), 30_000, 'the child to exit');
  assert.is(code, 0);
  assert.is(out.trim(), sha256(Buffer.alloc(1 << 20, 7)));
});

test.run();
