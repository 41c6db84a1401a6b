/**
 * `upload-batch` (docs/protocol.md §4): several small new files in one request, each stored
 * atomically and checked by its own SHA-256, each refused on its own. Hand-built frames show what
 * the server does with good and bad batches; the folder calls show that the client uses them and
 * that the outcome is the same as with single uploads.
 */
import { promises as fsp, symlinkSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batcherFor } from '../../src/client/upload-batch.ts';
import type { TransferContext } from '../../src/client/transfer-context.ts';
import type { FileShareError } from '../../src/errors.ts';
import { encodeData, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import type { TestServer } from '../../src/testing/index.ts';
import { RawClient, dispose, rejects, sha256, tempDir, tempFiles, testServer, waitFor, walk, json, loggedIn, answer } from './helpers.ts';

test.after.each(dispose);

interface BatchEntry {
  path: string;
  data: Buffer;
  /** Announce this digest instead of the data's. */
  sha256?: string;
  mtime?: number;
}

/** REQUEST, DATA and END of a batch in one write (the data eagerly, as the client sends it). */
function sendBatch(raw: RawClient, id: number, files: BatchEntry[], extra: { overwrite?: boolean; data?: Buffer } = {}): void {
  const data = extra.data ?? Buffer.concat(files.map((f) => f.data));
  const frames: Array<Buffer | Buffer[]> = [
    encodeJsonFrame(FrameType.REQUEST, id, {
      op: 'upload-batch',
      files: files.map((f) => ({
        path: f.path,
        size: f.data.length,
        sha256: f.sha256 ?? sha256(f.data),
        ...(f.mtime !== undefined ? { mtime: f.mtime } : {}),
      })),
      ...(extra.overwrite !== undefined ? { overwrite: extra.overwrite } : {}),
    }),
  ];
  if (data.length > 0) frames.push(encodeData(id, data));
  frames.push(encodeJsonFrame(FrameType.END, id, { bytes: data.length, sha256: sha256(data) }));
  raw.socket.write(Buffer.concat(frames.flat()));
}

async function results(raw: RawClient, id: number): Promise<Array<Record<string, unknown>>> {
  const final = await answer(raw, id);
  assert.is(final.type, FrameType.RESPONSE, final.body.toString());
  return json(final).results as Array<Record<string, unknown>>;
}

const codeOf = (result: Record<string, unknown> | undefined): unknown => (result?.error as { code?: string } | undefined)?.code;

test('the HELLO announces batches; maxBatchFiles: 0 announces none and refuses them', async () => {
  const t = await testServer();
  const { hello } = await loggedIn(t);
  assert.is(hello.batchFiles, 32);
  assert.is(hello.batchBytes, 65536);
  const off = await testServer({ server: { maxBatchFiles: 0 } });
  const { raw, hello: offHello } = await loggedIn(off);
  assert.is(offHello.batchFiles, undefined);
  assert.is(offHello.batchBytes, undefined);
  sendBatch(raw, 2, [{ path: '/a.txt', data: Buffer.from('a') }]);
  const final = await answer(raw, 2);
  assert.is(final.type, FrameType.ERROR);
  assert.is(json(final).code, 'EINVAL');
  assert.equal(await walk(off.root), []);
});

test('a batch stores every file with its bytes, digest and modification time, in nested folders', async () => {
  const t = await testServer();
  const { raw } = await loggedIn(t);
  await fsp.mkdir(path.join(t.root, 'sub', 'deeper'), { recursive: true });
  const mtime = Date.UTC(2021, 4, 6, 7, 8, 9);
  const files: BatchEntry[] = [
    { path: '/one.txt', data: Buffer.from('one') },
    { path: '/sub/two words.bin', data: Buffer.alloc(4096, 2), mtime },
    { path: '/sub/deeper/ünïcode.txt', data: Buffer.from('ü') },
    { path: '/sub/empty', data: Buffer.alloc(0) },
  ];
  sendBatch(raw, 2, files);
  const got = await results(raw, 2);
  assert.equal(
    got,
    files.map((f) => ({ bytes: f.data.length, sha256: sha256(f.data) })),
  );
  for (const f of files) assert.equal(await fsp.readFile(path.join(t.root, f.path)), f.data);
  assert.is(Math.floor((await fsp.stat(path.join(t.root, 'sub', 'two words.bin'))).mtimeMs), mtime);
  assert.equal(await tempFiles(t.root), []);
  // a batch needs no go-ahead when its data came whole
  assert.not.ok(raw.frames.some((f) => f.stream === 2 && f.type === FrameType.PARTIAL));
});

test('each file is refused on its own: existing, wrong digest, folder syntax, missing folder, outside the root', async () => {
  const t = await testServer();
  const { raw } = await loggedIn(t);
  await fsp.writeFile(path.join(t.root, 'exists.txt'), 'old');
  const outside = await tempDir();
  symlinkSync(outside, path.join(t.root, 'escape'));
  const files: BatchEntry[] = [
    { path: '/good-1.txt', data: Buffer.from('good 1') },
    { path: '/exists.txt', data: Buffer.from('new') },
    { path: '/bad-hash.txt', data: Buffer.from('bytes'), sha256: sha256('other bytes') },
    { path: '/folder-syntax/', data: Buffer.from('x') },
    { path: '/no/such/folder.txt', data: Buffer.from('x') },
    { path: '/escape/out.txt', data: Buffer.from('never outside') },
    { path: '/good-2.txt', data: Buffer.from('good 2') },
  ];
  sendBatch(raw, 2, files);
  const got = await results(raw, 2);
  assert.is(got.length, files.length);
  assert.equal(got[0], { bytes: 6, sha256: sha256('good 1') });
  assert.is(codeOf(got[1]), 'EEXIST');
  assert.is(codeOf(got[2]), 'EINTEGRITY');
  assert.is(codeOf(got[3]), 'EISDIR');
  assert.is(codeOf(got[4]), 'ENOENT');
  assert.is(codeOf(got[5]), 'EACCES');
  assert.equal(got[6], { bytes: 6, sha256: sha256('good 2') });
  assert.is(await fsp.readFile(path.join(t.root, 'exists.txt'), 'utf8'), 'old');
  assert.equal(await fsp.readdir(outside), []);
  assert.equal((await walk(t.root)).sort(), ['escape', 'exists.txt', 'good-1.txt', 'good-2.txt']);
  assert.equal(await tempFiles(t.root), []);
  // overwrite: true replaces, as for a single upload
  sendBatch(raw, 3, [{ path: '/exists.txt', data: Buffer.from('new') }], { overwrite: true });
  assert.equal(await results(raw, 3), [{ bytes: 3, sha256: sha256('new') }]);
  assert.is(await fsp.readFile(path.join(t.root, 'exists.txt'), 'utf8'), 'new');
});

test('a bad batch as a whole stores nothing: data short of the sizes, over the bounds, bad arguments, no write permission', async () => {
  const t = await testServer({
    users: { alice: 'alice-password', rita: { password: 'rita-password', permissions: ['read'] } },
  });
  const { raw } = await loggedIn(t);
  // the data is one byte short of what the files add up to
  sendBatch(
    raw,
    2,
    [
      { path: '/a.txt', data: Buffer.from('aaaa') },
      { path: '/b.txt', data: Buffer.from('bbbb') },
    ],
    {
      data: Buffer.from('aaaabbb'),
    },
  );
  const short = await answer(raw, 2);
  assert.is(short.type, FrameType.ERROR);
  assert.is(json(short).code, 'EINTEGRITY');
  const cases: Array<[number, Record<string, unknown>]> = [
    [3, { files: [] }],
    [4, { files: 'no' }],
    [5, { files: [{ path: '/x', size: 1 }] }],
    [6, { files: Array.from({ length: 33 }, (_, i) => ({ path: `/f${i}`, size: 0, sha256: sha256('') })) }],
    [7, { files: [{ path: '/big', size: 65537, sha256: sha256('') }] }],
    [8, { files: [{ path: '/neg', size: -1, sha256: sha256('') }] }],
  ];
  for (const [id, args] of cases) {
    raw.request(id, { op: 'upload-batch', ...args });
    const final = await answer(raw, id);
    assert.is(final.type, FrameType.ERROR, `case ${id}`);
    assert.is(json(final).code, 'EINVAL', `case ${id}: ${final.body.toString()}`);
  }
  const reader = await loggedIn(t, 'rita');
  sendBatch(reader.raw, 2, [{ path: '/r.txt', data: Buffer.from('r') }]);
  const refused = await answer(reader.raw, 2);
  assert.is(json(refused).code, 'EACCES');
  assert.equal(await walk(t.root), []);
  // the connection is still good for a proper batch
  sendBatch(raw, 20, [{ path: '/ok.txt', data: Buffer.from('ok') }]);
  assert.equal(await results(raw, 20), [{ bytes: 2, sha256: sha256('ok') }]);
});

test('the quota holds file by file: those that fit are stored, the rest refused with EQUOTA', async () => {
  const t = await testServer({ users: { carol: { password: 'carol-password', home: 'carol', quotaBytes: 5000 } } });
  await fsp.mkdir(path.join(t.root, 'carol'), { recursive: true });
  const { raw } = await loggedIn(t, 'carol');
  const files = [0, 1, 2].map((i) => ({ path: `/q${i}.bin`, data: Buffer.alloc(2000, i) }));
  sendBatch(raw, 2, files);
  const got = await results(raw, 2);
  assert.equal(got[0], { bytes: 2000, sha256: sha256(files[0]!.data) });
  assert.equal(got[1], { bytes: 2000, sha256: sha256(files[1]!.data) });
  assert.is(codeOf(got[2]), 'EQUOTA');
  assert.equal((await walk(path.join(t.root, 'carol'))).sort(), ['q0.bin', 'q1.bin']);
});

test('uploadDir sends its small files in batches, with the same result as one request per file', async () => {
  const src = await tempDir();
  const expected: Record<string, Buffer> = {};
  for (let i = 0; i < 60; i++) {
    const rel = `d${i % 3}/f ${i}.txt`;
    await fsp.mkdir(path.join(src, `d${i % 3}`), { recursive: true });
    expected[rel] = Buffer.from(`file ${i} `.repeat(i + 1));
    await fsp.writeFile(path.join(src, rel), expected[rel]!);
  }
  const big = Buffer.alloc(200_000, 7);
  await fsp.writeFile(path.join(src, 'big.bin'), big);
  expected['big.bin'] = big;
  for (const maxBatchFiles of [32, 0]) {
    const t = await testServer({ server: { maxBatchFiles } });
    const requests: string[] = [];
    let uploads = 0;
    t.server.on('upload', () => uploads++);
    const client = await t.connect();
    const frames = countRequests(client);
    const result = await client.uploadDir(src, '/tree');
    assert.is(result.transferred.length, 61);
    assert.equal(result.failed, []);
    assert.is(uploads, 61);
    for (const [rel, data] of Object.entries(expected)) assert.equal(await fsp.readFile(path.join(t.root, 'tree', rel)), data, rel);
    assert.equal(await tempFiles(t.root), []);
    requests.push(...frames());
    const batches = requests.filter((op) => op === 'upload-batch').length;
    const singles = requests.filter((op) => op === 'upload').length;
    if (maxBatchFiles === 0) {
      assert.is(batches, 0);
      assert.is(singles, 61);
    } else {
      assert.ok(batches >= 2 && batches <= 10, `${batches} batches`);
      assert.ok(singles < 10, `${singles} single uploads`);
    }
    // a second run without overwrite skips every file, batched or not
    const again = await client.uploadDir(src, '/tree');
    assert.is(again.transferred.length, 0);
    assert.is(again.skipped.filter((s) => s.reason === 'exists').length, 61);
  }
});

test('uploadDir: a failing file in a batch fails alone with continueOnError, and stops the transfer without it', async () => {
  const src = await tempDir();
  for (let i = 0; i < 10; i++) await fsp.writeFile(path.join(src, `f${i}.txt`), `file ${i}`);
  const t = await testServer({ server: { maxFileSize: 6 } });
  // f0..f9 are 6 bytes; one longer file is over the server's limit
  await fsp.writeFile(path.join(src, 'f5.txt'), 'much too long');
  const client = await t.connect();
  const result = await client.uploadDir(src, '/c', { continueOnError: true });
  assert.is(result.transferred.length, 9);
  assert.equal(
    result.failed.map((f) => [f.path, f.error.code]),
    [['f5.txt', 'ETOOLARGE']],
  );
  assert.not.ok(await fsp.stat(path.join(t.root, 'c', 'f5.txt')).catch(() => undefined));
  const stopped = await rejects(client.uploadDir(src, '/d'), 'ETOOLARGE');
  assert.match(stopped.message, /f5\.txt/);
  assert.equal(await tempFiles(t.root), []);
});

test('uploadDir aborted while batches are in flight: EABORTED, nothing under any target name but whole files', async () => {
  const src = await tempDir();
  for (let i = 0; i < 400; i++) await fsp.writeFile(path.join(src, `f${i}.bin`), Buffer.alloc(1000, i & 0xff));
  const t = await testServer();
  const client = await t.connect();
  const controller = new AbortController();
  let seen = 0;
  const done = client.uploadDir(src, '/abort', {
    signal: controller.signal,
    onFile: () => {
      if (++seen === 20) controller.abort();
    },
  });
  await rejects(done, 'EABORTED');
  // whatever landed is whole; nothing half-written, no temporary file left once the server settles
  for (const name of await fsp.readdir(path.join(t.root, 'abort'))) {
    assert.equal(await fsp.readFile(path.join(t.root, 'abort', name)), Buffer.alloc(1000, Number(name.slice(1, -4)) & 0xff), name);
  }
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, 'no temporary file left');
  // the connection outlives the abort: the next call works
  const after = await client.uploadDir(src, '/after');
  assert.is(after.transferred.length, 400);
});

test('the client: a missing file, a folder and one grown past the batch bound get their own outcomes; the rest go in one batch', async () => {
  const src = await tempDir();
  await fsp.writeFile(path.join(src, 'a.txt'), 'aaa');
  await fsp.writeFile(path.join(src, 'b.txt'), 'bbb');
  await fsp.writeFile(path.join(src, 'grown.bin'), Buffer.alloc(20_000, 1));
  await fsp.mkdir(path.join(src, 'folder'));
  const t = await testServer();
  const client = await t.connect();
  const context = () => (client as unknown as { context(): TransferContext }).context();
  const batcher = batcherFor(context)!;
  assert.ok(batcher, 'the server announces batches');
  const files = ['a.txt', 'missing.txt', 'folder', 'grown.bin', 'b.txt'].map((name) => ({
    local: path.join(src, name),
    remotePath: `/${name}`,
  }));
  const outcomes = await batcher.upload(files, { overwrite: false, preserveMtime: true });
  assert.equal((outcomes[0] as { sha256: string }).sha256, sha256('aaa'));
  assert.is((outcomes[1] as FileShareError).code, 'ENOENT');
  assert.is((outcomes[2] as FileShareError).code, 'EISDIR');
  assert.is(outcomes[3], 'single');
  assert.equal((outcomes[4] as { sha256: string }).sha256, sha256('bbb'));
  assert.equal((await walk(t.root)).sort(), ['a.txt', 'b.txt']);
  // an aborted signal sends nothing
  const aborted = AbortSignal.abort();
  await rejects(
    batcher.upload([{ local: path.join(src, 'a.txt'), remotePath: '/c.txt' }], { overwrite: false, preserveMtime: true, signal: aborted }),
    'EABORTED',
  );
  assert.equal((await walk(t.root)).sort(), ['a.txt', 'b.txt']);
});

test('long paths to a server with a small frame limit: batches stay within it, every file arrives', async () => {
  const src = await tempDir();
  const long = 'n'.repeat(200);
  await fsp.mkdir(path.join(src, long), { recursive: true });
  for (let i = 0; i < 40; i++) await fsp.writeFile(path.join(src, long, `${long}-${i}`), `file ${i}`);
  const t = await testServer({ server: { maxFrameSize: 4096 } });
  const client = await t.connect();
  const requests = countRequests(client);
  const result = await client.uploadDir(src, '/long');
  assert.is(result.transferred.length, 40);
  assert.equal(result.failed, []);
  assert.ok(requests().includes('upload-batch'), 'batches were used');
  for (let i = 0; i < 40; i++) assert.is(await fsp.readFile(path.join(t.root, 'long', long, `${long}-${i}`), 'utf8'), `file ${i}`);
});

/** The `op` of every REQUEST the client sends from now on (the returned function lists them). */
function countRequests(client: object): () => string[] {
  const ops: string[] = [];
  // watched where the client hands its frames to the connection: the requests as they go out
  const channel = (client as { channel: { connection: { send: (b: Buffer) => void } } }).channel;
  const connection = channel.connection;
  const send = connection.send.bind(connection);
  connection.send = (buffer: Buffer) => {
    if (buffer.length > 9 && buffer[4] === FrameType.REQUEST) {
      const body = JSON.parse(buffer.subarray(9).toString('utf8')) as { op: string };
      ops.push(body.op);
    }
    send(buffer);
  };
  return () => ops;
}

test.run();
