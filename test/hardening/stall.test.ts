/**
 * The stall rule for transfers, on both sides: a transfer whose data is due from the peer must
 * move at least `stallBytes` in every `stallTimeout`, else ETIMEDOUT. A DATA frame trickled a byte
 * at a time (slowloris on the data path), a server gone silent in the middle of a download, and one
 * gone silent while an upload waits for its credit.
 */
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, FileShareServer, MemoryAuthProvider } from '../../src/index.ts';
import { encodeHeader } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import { RawClient, defer, dispose, makeFile, rejects, relay, tempDir, tempFiles, testServer, waitFor, walk, within } from './helpers.ts';

test.after.each(dispose);

const MiB = 1024 * 1024;
const stall = { stallTimeout: 600, stallBytes: 1024 };

test('server: an upload whose DATA frame is trickled a byte at a time is cut with ETIMEDOUT; nothing is stored', async () => {
  // every other limit far away: only the stall rule can end this
  const t = await testServer({ server: { ...stall, frameTimeout: 60_000, idleTimeout: 60_000 } });
  const raw = await RawClient.connect(t.port);
  await raw.login('alice', 'alice-password');
  raw.request(2, { op: 'upload', path: '/slow.bin', size: 4096 });
  await raw.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  raw.write(encodeHeader(FrameType.DATA, 2, 4096));
  let sent = 0;
  const trickle = setInterval(() => {
    if (!raw.closed && sent < 4096) raw.write(Buffer.from([sent++ & 0xff]));
  }, 50);
  defer(() => clearInterval(trickle));
  const error = await raw.connectionError(20_000);
  assert.is(error.code, 'ETIMEDOUT', error.message);
  await raw.waitClosed(5000);
  assert.ok(sent < 4096, 'the frame completed: the trickle was not slow enough to test anything');
  await waitFor(async () => (await tempFiles(t.root)).length === 0, 5000, 'the temp file to go');
  assert.equal(await walk(t.root), []);
  // other clients are unaffected
  const client = await t.connect();
  assert.equal(await client.list('/'), []);
});

test('client: a download from a server gone silent mid-transfer fails with ETIMEDOUT, no local file', async () => {
  const t = await testServer();
  await makeFile(path.join(t.root, 'big.bin'), 16 * MiB);
  const network = await relay(t.port);
  const client = new FileShareClient({ host: '127.0.0.1', port: network.port, progressIntervalMs: 0, ...stall });
  defer(() => client.close());
  await client.connect();
  await client.login('alice', 'alice-password');
  const local = await tempDir();
  let frozen = false;
  const download = client.download('/big.bin', path.join(local, 'big.bin'), {
    onProgress: (p) => {
      if (!frozen && p.bytes >= MiB) {
        frozen = true;
        network.freeze(); // no FIN, no RST: the bytes just stop
      }
    },
  });
  await rejects(within(download, 20_000, 'the stalled download'), 'ETIMEDOUT');
  assert.ok(frozen);
  assert.equal(await walk(local), []);
});

test('client: an upload waiting for credit from a server gone silent fails with ETIMEDOUT', async () => {
  const t = await testServer();
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'big.bin'), 32 * MiB);
  const network = await relay(t.port);
  const client = new FileShareClient({ host: '127.0.0.1', port: network.port, progressIntervalMs: 0, ...stall, pingTimeout: 1000 });
  defer(() => client.close());
  await client.connect();
  await client.login('alice', 'alice-password');
  let frozen = false;
  const upload = client.upload(file, '/big.bin', {
    onProgress: (p) => {
      if (!frozen && p.bytes >= MiB) {
        frozen = true;
        network.freeze();
      }
    },
  });
  await rejects(within(upload, 20_000, 'the stalled upload'), 'ETIMEDOUT');
  assert.ok(frozen);
});

test('options: the stall rule is validated', async () => {
  assert.throws(() => new FileShareClient({ stallTimeout: 0 }), TypeError);
  assert.throws(() => new FileShareClient({ stallBytes: -1 }), TypeError);
  const auth = new MemoryAuthProvider({ users: {} });
  assert.throws(() => new FileShareServer({ root: '/nonexistent', auth, stallTimeout: 1.5 }), TypeError);
  assert.throws(() => new FileShareServer({ root: '/nonexistent', auth, stallBytes: 0 }), TypeError);
});

test.run();
