/**
 * A connection reads at most about {@link MAX_READ_PER_TURN} bytes from its socket per event-loop
 * turn, however much the kernel holds: between turns, timers and other connections get the loop
 * (a PING of another client, the event-loop delay). Frames still arrive complete and in order.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeHeader } from '../../src/protocol/encoder.ts';
import { type Frame, FrameType } from '../../src/protocol/frame.ts';
import { FrameConnection, MAX_READ_PER_TURN } from '../../src/transport/frame-connection.ts';
import { tcpSocketPair } from './duplex-pair.ts';

test('a burst of many MiB is read in bounded turns, in order, with the loop free between them', async () => {
  const pair = await tcpSocketPair({ pauseOnConnect: true });
  const { client: writer, server: reader } = pair;
  try {
    const body = randomBytes(64 * 1024);
    const frames = 256; // 16 MiB
    for (let i = 0; i < frames; i++) {
      const piece = Buffer.from(body);
      piece.writeUInt32BE(i, 0); // a sequence number, to check the order
      writer.write(encodeHeader(FrameType.DATA, 1, piece.length));
      writer.write(piece);
    }
    // let the kernel buffers fill while nobody reads
    await new Promise((resolve) => setTimeout(resolve, 200));

    let inTurn = 0;
    let largestTurn = 0;
    let turns = 0;
    let bytes = 0;
    const sequence: number[] = [];
    let pending: Buffer[] = [];
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
        pending.push(frame.body);
        // DATA bodies may come in fragments: reassemble each 64 KiB frame to read its number
        const joined = Buffer.concat(pending);
        if (joined.length >= body.length) {
          sequence.push(joined.readUInt32BE(0));
          pending = joined.length > body.length ? [joined.subarray(body.length)] : [];
        }
        if (bytes === frames * body.length) done();
      },
      onClose: () => {},
    });
    reader.resume(); // accepted with pauseOnConnect, which a 'data' listener alone does not undo
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), 20_000)))]);
    clearTimeout(timer);
    tick();
    assert.equal(
      sequence,
      Array.from({ length: frames }, (_, i) => i),
      'every frame, in order',
    );
    // one read of at most 64 KiB may already be under way when the socket is paused
    assert.ok(largestTurn <= MAX_READ_PER_TURN + 128 * 1024, `largest turn ${largestTurn} bytes`);
    assert.ok(turns >= Math.floor((frames * body.length) / (MAX_READ_PER_TURN + 128 * 1024)), `${turns} turns`);
  } finally {
    pair.close();
  }
});

test.run();
