/**
 * Credit of a receiving stream: granted at once for bytes a sink takes below its high-water mark,
 * at the write callback above it, so the bytes buffered for a stream stay within the window plus
 * the sink's mark however slow the sink is, and every byte still arrives in order.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IncomingStream } from '../../src/transport/incoming-stream.ts';

const KiB = 1024;

/** A sink whose writes complete only when `complete()` is called (one write at a time, as Writable runs them). */
function heldSink(highWaterMark: number) {
  const waiting: Array<() => void> = [];
  const stored: Buffer[] = [];
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      stored.push(Buffer.from(chunk));
      waiting.push(() => callback());
    },
  });
  /** Complete every write, those queued meanwhile included; resolves when none is left. */
  const complete = async () => {
    for (let i = 0; i < 10_000; i++) {
      const next = waiting.shift();
      if (next) next();
      await new Promise((resolve) => setImmediate(resolve));
      if (waiting.length === 0 && sink.writableLength === 0) return;
    }
    throw new Error('the sink never drained');
  };
  return { sink, stored, complete };
}

/** A sender that pushes `data` in `body`-sized pieces whenever it holds credit. */
function sender(data: Buffer, body: number, window: number) {
  let credit = window;
  let sent = 0;
  let stream: IncomingStream | undefined;
  const pump = () => {
    while (stream && sent < data.length && credit >= Math.min(body, data.length - sent)) {
      const piece = data.subarray(sent, Math.min(sent + body, data.length));
      sent += piece.length;
      credit -= piece.length;
      stream.push(piece);
    }
  };
  return {
    attach(s: IncomingStream) {
      stream = s;
      pump();
    },
    grant(bytes: number) {
      credit += bytes;
      // the grant arrives as a frame, later: never from inside push()
      setImmediate(pump);
    },
    get sent() {
      return sent;
    },
  };
}

test('a sink below its high-water mark gets credit before its writes complete, never more than window + mark buffered', async () => {
  const window = 128 * KiB;
  const mark = 64 * KiB;
  const data = randomBytes(1024 * KiB + 123);
  const { sink, stored, complete } = heldSink(mark);
  const peer = sender(data, 16 * KiB, window);
  const grants: number[] = [];
  const stream = new IncomingStream(sink, {
    window,
    sendCredit: (bytes) => {
      grants.push(bytes);
      peer.grant(bytes);
    },
    onFailure: (err) => assert.unreachable(err.message),
  });
  peer.attach(stream);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  // no write has completed yet: only the bytes the sink took below its mark were credited
  assert.is(stream.writtenBytes, 0);
  assert.ok(grants.length > 0, 'credit before any write completed');
  assert.ok(peer.sent > window, `more than one window sent (${peer.sent})`);
  assert.ok(peer.sent <= window + mark, `at most window + mark buffered (${peer.sent})`);
  // once the writes complete, credit follows them to the end
  while (peer.sent < data.length) await complete();
  const done = stream.finish();
  await complete();
  const totals = await done;
  assert.is(totals.bytes, data.length);
  assert.is(totals.sha256, createHash('sha256').update(data).digest('hex'));
  assert.ok(Buffer.concat(stored).equals(data), 'every byte, in order');
});

test('above its high-water mark a sink gets credit only as its writes complete', async () => {
  const window = 64 * KiB;
  const data = randomBytes(256 * KiB);
  // a mark smaller than one body: write() is always above it, so nothing is credited early
  const { sink, complete } = heldSink(1024);
  const peer = sender(data, 16 * KiB, window);
  let granted = 0;
  const stream = new IncomingStream(sink, {
    window,
    sendCredit: (bytes) => {
      granted += bytes;
      peer.grant(bytes);
    },
    onFailure: (err) => assert.unreachable(err.message),
  });
  peer.attach(stream);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.is(granted, 0);
  assert.is(peer.sent, window, 'the sender stops at the window');
  while (peer.sent < data.length) {
    await complete();
    assert.ok(peer.sent - stream.writtenBytes <= window, 'never more than the window buffered');
  }
  const done = stream.finish();
  await complete();
  assert.is((await done).bytes, data.length);
});

test.run();
