/**
 * A connection hands its owner at most about {@link MAX_FRAME_BYTES_PER_TURN} bytes of frames per
 * event-loop turn, however much the kernel holds: between turns, timers and other connections get
 * the loop. Frames still arrive complete and in order. The socket is read on meanwhile, into a
 * bounded backlog, so that a PING behind many MiB of data is handed over as soon as it is decoded.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, encodeHeader } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import { FrameConnection, MAX_BACKLOG_BYTES, MAX_FRAME_BYTES_PER_TURN, MAX_UNSENT_BYTES } from '../../src/transport/frame-connection.ts';
import { duplexPair, tcpSocketPair } from './duplex-pair.ts';

/** Write `count` DATA frames of 64 KiB on stream 1, each starting with its sequence number. */
function writeNumberedData(writer: NodeJS.WritableStream, count: number, body: Buffer, firstNumber = 0): void {
  for (let i = 0; i < count; i++) {
    const piece = Buffer.from(body);
    piece.writeUInt32BE(firstNumber + i, 0);
    writer.write(encodeHeader(FrameType.DATA, 1, piece.length));
    writer.write(piece);
  }
}

/** Reassembles the fragments of 64 KiB DATA frames and records each frame's sequence number. */
function sequenceReader(frameLength: number): { add(body: Buffer): void; sequence: number[] } {
  let pending: Buffer[] = [];
  const sequence: number[] = [];
  return {
    sequence,
    add(body) {
      pending.push(body);
      const joined = Buffer.concat(pending);
      if (joined.length >= frameLength) {
        sequence.push(joined.readUInt32BE(0));
        pending = joined.length > frameLength ? [joined.subarray(frameLength)] : [];
      }
    },
  };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

test('a burst of many MiB is handed over in bounded turns, in order, with the loop free between them', async () => {
  const pair = await tcpSocketPair({ pauseOnConnect: true });
  const { client: writer, server: reader } = pair;
  try {
    const body = randomBytes(64 * 1024);
    const frames = 256; // 16 MiB
    writeNumberedData(writer, frames, body);
    // let the kernel buffers fill while nobody reads
    await new Promise((resolve) => setTimeout(resolve, 200));

    let inTurn = 0;
    let largestTurn = 0;
    let turns = 0;
    let bytes = 0;
    const frameReader = sequenceReader(body.length);
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const tick = (): void => {
      largestTurn = Math.max(largestTurn, inTurn);
      if (inTurn > 0) turns++;
      inTurn = 0;
      if (bytes < frames * body.length) setImmediate(tick);
    };
    setImmediate(tick);
    new FrameConnection(reader, {
      maxFrameSize: 1 << 20,
      chunkSize: 256 * 1024,
      onFrame: (frame: Frame) => {
        if (frame.type !== FrameType.DATA) return;
        inTurn += frame.body.length;
        bytes += frame.body.length;
        frameReader.add(frame.body);
        if (bytes === frames * body.length) done();
      },
      onClose: () => {},
    });
    reader.resume(); // accepted with pauseOnConnect, which a 'data' listener alone does not undo
    await within(finished, 20_000);
    tick();
    assert.equal(
      frameReader.sequence,
      Array.from({ length: frames }, (_, i) => i),
      'every frame, in order',
    );
    // the frame that crosses the bound is handed over whole (up to one 64 KiB read)
    assert.ok(largestTurn <= MAX_FRAME_BYTES_PER_TURN + 128 * 1024, `largest turn ${largestTurn} bytes`);
    assert.ok(turns >= Math.floor((frames * body.length) / (MAX_FRAME_BYTES_PER_TURN + 128 * 1024)), `${turns} turns`);
  } finally {
    pair.close();
  }
});

test('a PING behind MiB of data is handed over when it is decoded, ahead of the data still waiting', async () => {
  // in memory: all of it is waiting for the reader at once, as if the kernel held it all
  const [writer, reader] = duplexPair(32 * 1024 * 1024);
  try {
    const body = randomBytes(64 * 1024);
    const before = 96; // 6 MiB ahead of the PING
    const after = 32;
    writeNumberedData(writer, before, body);
    writer.write(encodeFrame(FrameType.PING, 7, Buffer.from('are you there')));
    writeNumberedData(writer, after, body, before);
    const frameReader = sequenceReader(body.length);
    let dataBeforePing = -1;
    let bytes = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    new FrameConnection(reader, {
      maxFrameSize: 1 << 20,
      chunkSize: 256 * 1024,
      onFrame: (frame: Frame) => {
        if (frame.type === FrameType.PING) {
          assert.is(frame.stream, 7);
          assert.is(frame.body.toString(), 'are you there');
          dataBeforePing = bytes;
          return;
        }
        bytes += frame.body.length;
        frameReader.add(frame.body);
        if (bytes === (before + after) * body.length) done();
      },
      onClose: () => {},
    });
    await within(finished, 20_000);
    assert.ok(dataBeforePing >= 0, 'the PING was handed over');
    // one turn's worth of data came first; the rest waited behind the PING
    assert.ok(dataBeforePing <= MAX_FRAME_BYTES_PER_TURN + 128 * 1024, `${dataBeforePing} data bytes before the PING`);
    assert.equal(
      frameReader.sequence,
      Array.from({ length: before + after }, (_, i) => i),
      'the data, in order',
    );
  } finally {
    writer.destroy();
  }
});

test('the backlog is bounded: past it the socket is no longer read until the owner catches up', async () => {
  // in memory, all of it waiting before the connection reads (a real socket's reads may never
  // outrun a fast owner, and then the bound is never reached)
  const [writer, reader] = duplexPair(64 * 1024 * 1024);
  try {
    const body = randomBytes(64 * 1024);
    const frames = 640; // 40 MiB, more than twice the bound
    let bytes = 0;
    let largestBacklog = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    writeNumberedData(writer, frames, body);
    const connection: FrameConnection = new FrameConnection(reader, {
      maxFrameSize: 1 << 20,
      chunkSize: 256 * 1024,
      onFrame: (frame: Frame) => {
        largestBacklog = Math.max(largestBacklog, connection.backlogByteCount);
        bytes += frame.body.length;
        if (bytes === frames * body.length) done();
      },
      onClose: () => {},
    });
    await within(finished, 30_000);
    assert.ok(largestBacklog >= MAX_BACKLOG_BYTES / 2, `the backlog filled (${largestBacklog} bytes)`);
    // the frame that crosses the bound still joins the backlog
    assert.ok(largestBacklog <= MAX_BACKLOG_BYTES + 128 * 1024, `largest backlog ${largestBacklog} bytes`);
    assert.is(connection.backlogByteCount, 0);
  } finally {
    writer.destroy();
  }
});

test('a peer that floods PINGs and never reads the PONGs is no longer read: the queue of answers stays bounded, and none is lost', async () => {
  const pair = await tcpSocketPair();
  const { client: flooder, server: reader } = pair;
  try {
    flooder.pause(); // reads nothing until told
    const ping = encodeFrame(FrameType.PING, 1, Buffer.from('12345678'));
    const perBlock = Math.floor((64 * 1024) / ping.length);
    const block = Buffer.concat(Array.from({ length: perBlock }, () => ping));
    const blocks = 640; // 40 MiB of PINGs, ten times the bound's worth of answers
    let pings = 0;
    let largestUnsent = 0;
    const connection: FrameConnection = new FrameConnection(reader, {
      maxFrameSize: 1 << 20,
      chunkSize: 256 * 1024,
      onFrame: (frame: Frame) => {
        if (frame.type !== FrameType.PING) return;
        pings++;
        connection.sendAlone(FrameType.PONG, frame.stream, frame.body);
        largestUnsent = Math.max(largestUnsent, reader.writableLength);
      },
      onClose: () => {},
    });
    for (let i = 0; i < blocks; i++) flooder.write(block);
    // until the answers stop growing: the reader stopped reading
    let last = -1;
    for (let i = 0; i < 100 && pings !== last; i++) {
      last = pings;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(pings < blocks * perBlock, `not every PING was read while nobody read the PONGs (${pings})`);
    // one socket read (64 KiB of PINGs) may be answered past the bound
    assert.ok(largestUnsent <= MAX_UNSENT_BYTES + 128 * 1024, `largest unsent queue ${largestUnsent} bytes`);
    // once the flooder reads, every PING is answered
    let pongBytes = 0;
    const allAnswered = new Promise<void>((resolve) =>
      flooder.on('data', (chunk: Buffer) => {
        pongBytes += chunk.length;
        if (pongBytes >= blocks * block.length) resolve();
      }),
    );
    flooder.resume();
    await within(allAnswered, 30_000);
    assert.is(pings, blocks * perBlock);
    assert.is(pongBytes, blocks * block.length);
  } finally {
    pair.close();
  }
});

test.run();
