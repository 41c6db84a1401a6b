/**
 * Connections lost in the middle of folder transfers, where small files travel in `upload-batch`
 * requests and many small downloads are in flight: the server keeps only whole, verified files
 * and no temporary file, the client reports a connection error (never a success), other clients
 * go on, and a new connection finishes the job.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient } from '../../src/client/client.ts';
import { FileShareError } from '../../src/errors.ts';
import { encodeData, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import { answer, json, loggedIn } from '../core/helpers.ts';
import { defer, dispose, relay, sha256, tempDir, tempFiles, testServer, waitFor, walk, within } from './helpers.ts';

test.after.each(dispose);

/** A client logged in as alice over 127.0.0.1:`port` (a relay's), closed after the test. */
async function clientVia(port: number): Promise<FileShareClient> {
  const client = new FileShareClient({ host: '127.0.0.1', port });
  defer(() => client.close());
  await client.connect();
  await client.login('alice', 'alice-password');
  return client;
}

/** `count` small files (a few in a subfolder), each with content of its own; returns name → bytes. */
async function smallTree(dir: string, count: number): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  await fsp.mkdir(path.join(dir, 'sub'), { recursive: true });
  for (let i = 0; i < count; i++) {
    const rel = i % 5 === 0 ? `sub/f${i}.bin` : `f${i}.bin`;
    const data = Buffer.alloc(500 + ((i * 37) % 3000), i & 0xff);
    data.write(`file ${i}`);
    files.set(rel, data);
    await fsp.writeFile(path.join(dir, rel), data);
  }
  return files;
}

/** Every file under `root` is one of `expected`, byte for byte; returns how many there are. */
async function onlyWholeFiles(root: string, expected: Map<string, Buffer>): Promise<number> {
  let whole = 0;
  for (const rel of await walk(root)) {
    const stats = await fsp.stat(path.join(root, rel));
    if (stats.isDirectory()) continue;
    const want = expected.get(rel);
    assert.ok(want, `unexpected file ${rel}`);
    assert.equal(await fsp.readFile(path.join(root, rel)), want, rel);
    whole++;
  }
  return whole;
}

/** The REQUEST, DATA and END of a batch of `files`, as one buffer. */
function batchFrames(id: number, files: Array<{ path: string; data: Buffer }>): Buffer {
  const data = Buffer.concat(files.map((f) => f.data));
  return Buffer.concat([
    encodeJsonFrame(FrameType.REQUEST, id, {
      op: 'upload-batch',
      files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data) })),
    }),
    ...[encodeData(id, data)].flat(),
    encodeJsonFrame(FrameType.END, id, { bytes: data.length, sha256: sha256(data) }),
  ]);
}

test('a batch cut off at every point of its frames stores nothing partial; the server serves the next client', async () => {
  const t = await testServer();
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `/b${i}.bin`, data: Buffer.alloc(3000, i + 1) }));
  const frames = batchFrames(2, files);
  const errors: unknown[] = [];
  t.server.on('error', (err) => errors.push(err));
  // cut inside the REQUEST, inside the DATA, just before the END, and after the whole batch
  const cuts = [10, 200, frames.length >> 1, frames.length - 30, frames.length - 1, frames.length];
  for (const [i, cut] of cuts.entries()) {
    const { raw } = await loggedIn(t);
    raw.socket.write(frames.subarray(0, cut));
    // a reset half the time, a plain close the other half
    if (i % 2 === 0) raw.socket.resetAndDestroy();
    else raw.socket.end();
    await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, `no temporary file after the cut at ${cut}`);
    // whatever is stored is whole; a batch cut before its END stores nothing at all
    const stored = await onlyWholeFiles(t.root, new Map(files.map((f) => [f.path.slice(1), f.data])));
    if (cut < frames.length) assert.is(stored, 0, `cut at ${cut} of ${frames.length}`);
    for (const name of await fsp.readdir(t.root)) await fsp.rm(path.join(t.root, name));
  }
  // a whole batch followed at once by a reset: all or some of the files, each whole (checked above)
  const other = await loggedIn(t);
  other.raw.socket.write(batchFrames(2, [{ path: '/after.txt', data: Buffer.from('after') }]));
  const final = await answer(other.raw, 2);
  assert.equal(json(final).results, [{ bytes: 5, sha256: sha256('after') }]);
  assert.equal(errors, [], 'a lost connection is no server error');
});

test('uploadDir through a connection reset mid-tree: a connection error, only whole files, and a new connection finishes it', async () => {
  const src = await tempDir();
  const files = await smallTree(src, 240);
  // how many bytes the whole upload sends, to cut it at fractions of that
  const probe = await testServer();
  const measured = await relay(probe.port);
  const whole = await clientVia(measured.port);
  await whole.uploadDir(src, '/tree');
  await whole.close();
  const total = measured.upstreamBytes()[0]!;
  assert.ok(total > 240 * 500, `${total} bytes upstream`);
  for (const fraction of [0.1, 0.45, 0.8]) {
    const t = await testServer();
    const network = await relay(t.port, { cutUpstreamAfter: Math.floor(total * fraction) });
    const client = await clientVia(network.port);
    // another client's folder upload runs alongside and is not disturbed by the lost connection
    const bystander = await t.connect();
    const alongside = bystander.uploadDir(src, '/alongside');
    const err = await within(
      client.uploadDir(src, '/tree').then(
        () => undefined,
        (e: unknown) => e,
      ),
      20_000,
      'uploadDir over a reset connection',
    );
    assert.instance(err, FileShareError, `cut at ${fraction}: ${String(err)}`);
    assert.is((err as FileShareError).code, 'ECLOSED', `cut at ${fraction}: ${(err as Error).message}`);
    const beside = await within(alongside, 20_000, "the other client's upload");
    assert.equal(beside.failed, []);
    assert.is(beside.transferred.length, files.size);
    await client.close();
    await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, 'no temporary file left');
    const tree = path.join(t.root, 'tree');
    const stored = await fsp
      .stat(tree)
      .then(() => onlyWholeFiles(tree, files))
      .catch((e: unknown) => (String(e).includes('ENOENT') ? 0 : Promise.reject(e)));
    assert.ok(stored < files.size, `cut at ${fraction}: the cut came before the end (${stored} stored)`);
    // a new connection skips what is there and sends the rest
    const again = await t.connect();
    const rest = await again.uploadDir(src, '/tree');
    assert.equal(rest.failed, []);
    assert.is(rest.transferred.length + rest.skipped.length, files.size);
    assert.is(await onlyWholeFiles(tree, files), files.size);
    assert.is(await onlyWholeFiles(path.join(t.root, 'alongside'), files), files.size);
    assert.equal(await tempFiles(t.root), []);
  }
});

test('downloadDir through a connection reset mid-tree: a connection error, no partial file under a target name, and a new connection finishes it', async () => {
  const t = await testServer();
  const files = await smallTree(path.join(t.root, 'tree'), 240);
  const probe = await relay(t.port);
  const whole = await clientVia(probe.port);
  const first = await tempDir();
  await whole.downloadDir('/tree', first);
  await whole.close();
  const total = probe.upstreamBytes()[0]!;
  for (const fraction of [0.2, 0.5, 0.85]) {
    const network = await relay(t.port, { cutUpstreamAfter: Math.floor(total * fraction) });
    const client = await clientVia(network.port);
    const local = await tempDir();
    const err = await within(
      client.downloadDir('/tree', local).then(
        () => undefined,
        (e: unknown) => e,
      ),
      20_000,
      'downloadDir over a reset connection',
    );
    assert.instance(err, FileShareError, `cut at ${fraction}: ${String(err)}`);
    assert.is((err as FileShareError).code, 'ECLOSED', `cut at ${fraction}: ${(err as Error).message}`);
    await client.close();
    // what is under a target name is whole; only hidden partial files may stay, for a resume
    for (const rel of await walk(local)) {
      const name = path.basename(rel);
      if ((await fsp.stat(path.join(local, rel))).isDirectory() || name.startsWith('.')) continue;
      assert.equal(await fsp.readFile(path.join(local, rel)), files.get(rel), rel);
    }
    const again = await t.connect();
    const rest = await again.downloadDir('/tree', local, { resume: true });
    assert.equal(rest.failed, []);
    assert.is(await onlyWholeFiles(local, files), files.size);
  }
});

test.run();
