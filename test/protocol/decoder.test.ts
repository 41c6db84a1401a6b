import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeCredit, encodeData, encodeFrame, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType, type Frame } from '../../src/protocol/frame.ts';
import { FileShareError } from '../../src/errors.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const summary = (frames: Frame[]) => frames.map((f) => `${f.type}:${f.stream}:${f.body.toString('hex')}`);

function expectProto(fn: () => unknown, pattern: RegExp) {
  try {
    fn();
  } catch (err) {
    assert.instance(err, FileShareError);
    assert.is((err as FileShareError).code, 'EPROTO');
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable('expected EPROTO');
}

test('decodes a PING frame from the hex fixture in docs/protocol.md', () => {
  const frames = new FrameDecoder(1024).push(hex('0000000d 0a 00000001 0102030405060708'));
  assert.equal(summary(frames), ['10:1:0102030405060708']);
});

test('decodes several frames in one chunk, and zero-length bodies', () => {
  const bytes = Buffer.concat([
    encodeFrame(FrameType.CANCEL, 7),
    encodeCredit(7, 65536),
    encodeJsonFrame(FrameType.REQUEST, 8, { op: 'ping' }),
  ]);
  const frames = new FrameDecoder(1024).push(bytes);
  assert.is(frames.length, 3);
  assert.is(frames[0]!.body.length, 0);
  assert.is(frames[1]!.body.readUInt32BE(0), 65536);
  assert.equal(JSON.parse(frames[2]!.body.toString()), { op: 'ping' });
});

test('the same frames fed one byte at a time decode identically', () => {
  const payload = Buffer.from('hello, world');
  const bytes = Buffer.concat([
    ...encodeData(3, payload),
    encodeJsonFrame(FrameType.END, 3, { bytes: 12 }),
    encodeFrame(FrameType.PING, 1, hex('ff')),
  ]);
  const whole = summary(new FrameDecoder(1024).push(bytes));
  const decoder = new FrameDecoder(1024);
  const split: Frame[] = [];
  for (const byte of bytes) split.push(...decoder.push(Buffer.of(byte)));
  assert.equal(summary(split), whole);
  assert.is(decoder.pendingBytes, 0);
});

test('a frame inside one chunk is handed out without copying', () => {
  const chunk = Buffer.concat(encodeData(1, Buffer.alloc(100, 7)));
  const [frame] = new FrameDecoder(1024).push(chunk);
  assert.is(frame!.body.buffer, chunk.buffer);
});

test('split at every position of a two-frame buffer', () => {
  const bytes = Buffer.concat([encodeJsonFrame(FrameType.REQUEST, 1, { op: 'list', path: '/' }), ...encodeData(2, Buffer.alloc(50, 1))]);
  const expected = summary(new FrameDecoder(1024).push(bytes));
  for (let i = 0; i <= bytes.length; i++) {
    const d = new FrameDecoder(1024);
    const got = [...d.push(bytes.subarray(0, i)), ...d.push(bytes.subarray(i))];
    assert.equal(summary(got), expected, `split at ${i}`);
  }
});

test('an oversized length is refused before the body arrives', () => {
  const decoder = new FrameDecoder(1024);
  expectProto(() => decoder.push(hex('ffffffff 06 00000001')), /exceeds the maximum of 1024/);
  // poisoned: later input throws the same error
  expectProto(() => decoder.push(hex('00')), /exceeds/);
});

test('a length just over the limit is refused; exactly the limit is accepted', () => {
  const ok = new FrameDecoder(5 + 10).push(Buffer.concat(encodeData(1, Buffer.alloc(10))));
  assert.is(ok.length, 1);
  expectProto(() => new FrameDecoder(5 + 10).push(Buffer.concat(encodeData(1, Buffer.alloc(11)))), /exceeds/);
});

test('a length below the header size is refused', () => {
  expectProto(() => new FrameDecoder(1024).push(hex('00000004 06 00000001')), /below the minimum/);
});

test('unknown frame types are refused', () => {
  expectProto(() => new FrameDecoder(1024).push(hex('00000005 00 00000001')), /unknown frame type/);
  expectProto(() => new FrameDecoder(1024).push(hex('00000005 63 00000001')), /unknown frame type/);
});

test('a truncated frame yields nothing and waits', () => {
  const d = new FrameDecoder(1024);
  assert.equal(d.push(hex('0000000d 0a 000000 01 0102')), []);
  assert.is(d.pendingBytes, 0 + 2); // header consumed, 2 body bytes waiting
});

test('streamData: DATA bodies come out as zero-copy fragments whose bytes add up; other frames stay whole', () => {
  const payload = Buffer.from('0123456789abcdefghij');
  const bytes = Buffer.concat([...encodeData(5, payload), encodeJsonFrame(FrameType.END, 5, { bytes: 20 })]);
  for (const size of [1, 3, 7, 64]) {
    const decoder = new FrameDecoder(1024, { streamData: true });
    const out: Frame[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...decoder.push(bytes.subarray(i, i + size)));
    const data = out.filter((f) => f.type === FrameType.DATA);
    assert.ok(data.every((f) => f.stream === 5 && f.body.length > 0));
    assert.is(Buffer.concat(data.map((f) => f.body)).toString(), payload.toString(), `chunk size ${size}`);
    const rest = out.filter((f) => f.type !== FrameType.DATA);
    assert.equal(summary(rest), [`${FrameType.END}:5:${Buffer.from(JSON.stringify({ bytes: 20 })).toString('hex')}`]);
    assert.is(decoder.pendingBytes, 0);
  }
});

test('streamData: a DATA fragment is a view of the received chunk, and limits still apply', () => {
  const chunk = Buffer.concat(encodeData(1, Buffer.alloc(100, 7)));
  const decoder = new FrameDecoder(1024, { streamData: true });
  const [first] = decoder.push(chunk.subarray(0, 50));
  assert.is(first!.body.buffer, chunk.buffer);
  assert.is(first!.body.length, 50 - 9);
  expectProto(() => new FrameDecoder(16, { streamData: true }).push(chunk), /exceeds/);
});

test('streamData: control frames over the control limit are refused at once; DATA may be larger', () => {
  const decoder = new FrameDecoder(1 << 20, { streamData: true, maxControlFrameSize: 100 });
  assert.is(decoder.push(Buffer.concat(encodeData(1, Buffer.alloc(500)))).length > 0, true);
  expectProto(
    () => new FrameDecoder(1 << 20, { streamData: true, maxControlFrameSize: 100 }).push(hex('00000100 02 00000001')),
    /control frame maximum/,
  );
});

test.run();
