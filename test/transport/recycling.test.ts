/**
 * Recycled read chunks: `FileChunkStream` reads a file like `fs.createReadStream` (ranges, a given
 * handle closed at the end), and reads into a chunk again only once the consumer gave it back. The
 * frame connection gives a chunk back only after the socket's write callback, and only on a real
 * socket: bytes arrive intact over TCP, and never recycled over an in-memory Duplex.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import { DEFAULT_READ_SIZE, FileChunkStream, MAX_POOLED_BYTES, POOL_IDLE_MS, pooledChunkBytes } from '../../src/storage/file-chunks.ts';
import { FrameConnection } from '../../src/transport/frame-connection.ts';
import { OutgoingStream } from '../../src/transport/outgoing-stream.ts';
import { dispose, tempDir } from '../core/helpers.ts';
import { duplexPair, tcpSocketPair } from './duplex-pair.ts';

test.after.each(dispose);

async function fileOf(bytes: number): Promise<{ file: string; data: Buffer }> {
  const dir = await tempDir('fileshare-recycle-');
  const file = path.join(dir, 'data.bin');
  const data = randomBytes(bytes);
  await writeFile(file, data);
  return { file, data };
}

async function readAll(stream: FileChunkStream, recycle: boolean): Promise<{ data: Buffer; memories: Set<ArrayBufferLike> }> {
  const parts: Buffer[] = [];
  const memories = new Set<ArrayBufferLike>();
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    parts.push(Buffer.from(buf)); // a copy: the chunk itself is handed back below
    memories.add(buf.buffer);
    if (recycle) stream.recycle(buf);
  }
  return { data: Buffer.concat(parts), memories };
}

test('FileChunkStream reads a whole file, a range, and from a handle it closes at the end', async () => {
  const { file, data } = await fileOf(100_000);
  assert.ok((await readAll(new FileChunkStream({ path: file, chunkSize: 4096, readSize: 4096 }), false)).data.equals(data));
  const range = await readAll(new FileChunkStream({ path: file, start: 1000, end: 54_321, chunkSize: 4096, readSize: 4096 }), true);
  assert.ok(range.data.equals(data.subarray(1000, 54_322)));
  const handle = await open(file, 'r');
  const fromHandle = await readAll(new FileChunkStream({ handle, start: 99_999, chunkSize: 4096, readSize: 4096 }), true);
  assert.ok(fromHandle.data.equals(data.subarray(99_999)));
  // closed by the stream: a second close of the same FileHandle is a no-op, a read fails
  await new Promise((resolve) => setImmediate(resolve));
  await assert.not.throws(async () => handle.close());
  let failed = false;
  await handle.read(Buffer.alloc(1), 0, 1, 0).catch(() => (failed = true));
  assert.ok(failed, 'the handle is closed');
});

test('FileChunkStream reuses a chunk only once it was given back', async () => {
  const { file, data } = await fileOf(64 * 4096);
  const kept = await readAll(new FileChunkStream({ path: file, chunkSize: 4096, readSize: 4096 }), false);
  assert.ok(kept.data.equals(data));
  assert.is(kept.memories.size, 64, 'without recycle every chunk is fresh memory');
  const recycled = await readAll(new FileChunkStream({ path: file, chunkSize: 4096, readSize: 4096 }), true);
  assert.ok(recycled.data.equals(data));
  assert.ok(recycled.memories.size <= 2, `given back at once, a chunk is read into again (${recycled.memories.size} memories)`);
});

test('FileChunkStream reads 1 MiB at a time by default, and a short file or tail into memory of its own size', async () => {
  const { file, data } = await fileOf(2 * DEFAULT_READ_SIZE + 12_345);
  const sizes: number[] = [];
  const memories: number[] = [];
  const stream = new FileChunkStream({ path: file, chunkSize: 4096 });
  const parts: Buffer[] = [];
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    sizes.push(buf.length);
    memories.push(buf.buffer.byteLength);
    parts.push(Buffer.from(buf));
  }
  assert.ok(Buffer.concat(parts).equals(data));
  assert.equal(sizes, [DEFAULT_READ_SIZE, DEFAULT_READ_SIZE, 12_345]);
  assert.is(memories[2], 12_345, 'the tail is not read into a whole chunk');
  const small = await fileOf(10_000);
  const one = new FileChunkStream({ path: small.file, chunkSize: 4096 });
  const chunks: Buffer[] = [];
  for await (const chunk of one) chunks.push(chunk as Buffer);
  assert.is(chunks.length, 1);
  assert.is(chunks[0]!.buffer.byteLength, 10_000, 'a small file gets memory of its own size');
  // a chunk size above the default read size reads whole chunks
  const big = new FileChunkStream({ path: file, chunkSize: 2 * DEFAULT_READ_SIZE });
  const first = (await big[Symbol.asyncIterator]().next()).value as Buffer;
  assert.is(first.length, 2 * DEFAULT_READ_SIZE);
  big.destroy();
});

/** Every chunk `stream` gives, as given (no copies, nothing handed back). */
async function chunksOf(stream: FileChunkStream): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

test('a chunk given back after its stream ended is read into by the next stream; one still held, or given back twice, goes to one reader only', async () => {
  const one = await fileOf(DEFAULT_READ_SIZE);
  const two = await fileOf(DEFAULT_READ_SIZE);
  const a = new FileChunkStream({ path: one.file, chunkSize: 4096 });
  const [first] = await chunksOf(a);
  assert.ok(a.destroyed, 'the stream is over before its chunk comes back, as after a socket write');
  a.recycle(first!);
  const [second] = await chunksOf(new FileChunkStream({ path: two.file, chunkSize: 4096 }));
  assert.ok(second!.buffer === first!.buffer, 'the next stream reads into the memory given back');
  assert.ok(second!.equals(two.data), 'and its bytes are its own file');
  // `second` is held: nobody else reads into it
  const [third] = await chunksOf(new FileChunkStream({ path: one.file, chunkSize: 4096 }));
  assert.ok(third!.buffer !== second!.buffer);
  assert.ok(second!.equals(two.data), 'a held chunk is never overwritten');
  // given back twice by mistake: still handed to one reader only
  const again = new FileChunkStream({ path: one.file, chunkSize: 4096 });
  again.recycle(third!);
  again.recycle(third!);
  again.destroy();
  const [x, y] = await Promise.all([
    chunksOf(new FileChunkStream({ path: one.file, chunkSize: 4096 })),
    chunksOf(new FileChunkStream({ path: two.file, chunkSize: 4096 })),
  ]);
  assert.ok(x[0]!.buffer !== y[0]!.buffer, 'two readers never share memory');
  assert.ok(x[0]!.equals(one.data) && y[0]!.equals(two.data));
  // memory a FileChunkStream did not make is never taken in
  const foreign = Buffer.allocUnsafeSlow(DEFAULT_READ_SIZE);
  const before = pooledChunkBytes();
  again.recycle(foreign);
  assert.is(pooledChunkBytes(), before);
});

test('the pool keeps at most MAX_POOLED_BYTES, and lets go of everything once idle', async () => {
  const { file } = await fileOf(DEFAULT_READ_SIZE);
  const count = MAX_POOLED_BYTES / DEFAULT_READ_SIZE + 4;
  const held = await Promise.all(Array.from({ length: count }, () => chunksOf(new FileChunkStream({ path: file, chunkSize: 4096 }))));
  const giver = new FileChunkStream({ path: file, chunkSize: 4096 });
  for (const [chunk] of held) giver.recycle(chunk!);
  giver.destroy();
  const pooled = pooledChunkBytes();
  assert.ok(pooled <= MAX_POOLED_BYTES && pooled > MAX_POOLED_BYTES - DEFAULT_READ_SIZE, `full, and no more (${pooled} bytes)`);
  const deadline = Date.now() + 10 * POOL_IDLE_MS;
  while (pooledChunkBytes() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, POOL_IDLE_MS / 4));
  assert.is(pooledChunkBytes(), 0, 'an idle process holds no pooled chunks');
});

test('FileChunkStream: a missing file fails the stream', async () => {
  const dir = await tempDir('fileshare-recycle-');
  const stream = new FileChunkStream({ path: path.join(dir, 'missing'), chunkSize: 4096, readSize: 4096 });
  let code: unknown;
  await readAll(stream, true).catch((err: NodeJS.ErrnoException) => (code = err.code));
  assert.is(code, 'ENOENT');
});

/** A FrameConnection sending `source` as stream 1 over `socket`; resolves to the DATA bytes `peer` received. */
function sendOver(
  socket: net.Socket | import('node:stream').Duplex,
  peer: import('node:stream').Duplex,
  source: FileChunkStream,
): Promise<{ received: Buffer; sha256: string }> {
  const decoder = new FrameDecoder(1 << 20, { streamData: true });
  const parts: Buffer[] = [];
  // the receiver copies each body only after a delay: a sender that reused memory too early would
  // have overwritten it by then
  peer.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) if (frame.type === FrameType.DATA) parts.push(frame.body);
  });
  return new Promise((resolve, reject) => {
    const connection = new FrameConnection(socket, {
      maxFrameSize: 1 << 20,
      chunkSize: 8192,
      onFrame: () => {},
      onClose: () => {},
    });
    const sender = new OutgoingStream(1, source, 1 << 30, connection.schedule, {
      onEnd: (_bytes, sha256) => {
        setTimeout(() => {
          resolve({ received: Buffer.concat(parts.map((p) => Buffer.from(p))), sha256 });
          connection.destroy();
        }, 200);
      },
      onError: reject,
    });
    connection.addSender(sender);
  });
}

test('over TCP, recycled chunks arrive intact (memory reused only after the write callback)', async () => {
  const { file, data } = await fileOf(3 * 1024 * 1024 + 123);
  const pair = await tcpSocketPair();
  const { client, server: peer } = pair;
  try {
    let recycled = 0;
    const source = new FileChunkStream({ path: file, chunkSize: 8192, readSize: 8192 });
    const recycle = source.recycle.bind(source);
    source.recycle = (chunk) => {
      recycled++;
      recycle(chunk);
    };
    const { received, sha256 } = await sendOver(client, peer, source);
    assert.ok(received.equals(data), 'every byte intact');
    assert.is(sha256, createHash('sha256').update(data).digest('hex'));
    assert.ok(recycled > 300, `chunks were given back (${recycled})`);
  } finally {
    pair.close();
  }
});

test('over an in-memory Duplex, chunks are never given back (the reader may hold the very buffer)', async () => {
  const { file, data } = await fileOf(256 * 1024 + 7);
  const [a, b] = duplexPair();
  let recycled = 0;
  const source = new FileChunkStream({ path: file, chunkSize: 8192, readSize: 8192 });
  source.recycle = () => {
    recycled++;
  };
  const { received } = await sendOver(a, b, source);
  assert.ok(received.equals(data));
  assert.is(recycled, 0);
});

test.run();
