/**
 * Property-based fuzzing of the FrameDecoder (docs/protocol.md §1) with fast-check:
 *
 * - valid frames, encoded and split at arbitrary points, decode to exactly the same frames;
 * - arbitrary bytes (random, and header-shaped pieces with hostile lengths and types) behave like a
 *   simple whole-buffer reference decoder: the same frames, `EPROTO` exactly when the reference
 *   finds a bad header, nothing else thrown, no allocation above `maxFrameSize`, and once thrown
 *   the decoder stays poisoned;
 * - mutations of valid streams (byte flips, truncation, duplication, garbage, rewritten lengths)
 *   give either frames or `EPROTO`, and never disturb the frames before the first changed byte.
 *
 * Every property runs in each mode of the decoder: whole frames; `streamData` (DATA bodies handed
 * out as fragments as they arrive, as the server and client use it, with non-DATA frames capped at
 * the JSON body limit); and `streamData` with a small random `maxControlFrameSize`. With
 * `streamData` frames are compared as a transcript where consecutive DATA of one stream is one
 * byte run (fragment boundaries carry no meaning), and nothing bigger than a control frame may
 * ever be allocated.
 *
 * CI runs a few hundred cases per property (`FUZZ_RUNS`, default 300; about a second or two).
 * Long mode: `node scripts/fuzz.mjs --runs 100000` (or `--duration 10m`); replay a failure with
 * `FUZZ_SEED=<seed> FUZZ_PATH=<path> node --import tsx node_modules/uvu/bin.js test/fuzz decoder`.
 * See fuzz-helpers.ts for every knob.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareError } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeFrame } from '../../src/protocol/encoder.ts';
import { MAX_JSON_BODY } from '../../src/protocol/fields.ts';
import { type Frame, FrameType, HEADER_SIZE, LENGTH_OVERHEAD, isFrameType } from '../../src/protocol/frame.ts';
import { checkProperty, splitAt } from './fuzz-helpers.ts';

const CI_RUNS = 300;

// ---------------------------------------------------------------------------------------------
// Arbitraries

const VALID_TYPES = Object.values(FrameType);

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff),
  fc.integer({ min: 0, max: 16 }),
  fc.integer({ min: 0, max: 0xffffffff }),
);

/** Mostly small bodies, sometimes a few KiB. */
const body = fc
  .oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 48 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1024, maxLength: 4096 }) },
  )
  .map((bytes) => Buffer.from(bytes));

interface PlainFrame {
  readonly type: number;
  readonly stream: number;
  readonly body: Buffer;
}

const validFrame: fc.Arbitrary<PlainFrame> = fc.record({ type: fc.constantFrom(...VALID_TYPES), stream: u32, body });

const splitPoints = fc.array(fc.nat(), { maxLength: 40 });

/** A piece of hostile input: random bytes, or something shaped like a header with a chosen length and type. */
const hostilePiece: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc
    .record({
      // around the limits too: the default control-frame cap is the JSON body limit + 5
      length: fc.oneof(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 5, max: 300 }),
        fc.integer({ min: 5, max: 70_000 }),
        fc.constantFrom(MAX_JSON_BODY + 4, MAX_JSON_BODY + 5, MAX_JSON_BODY + 6, 300_000, 2 * 1024 * 1024),
        u32,
      ),
      type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...VALID_TYPES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      stream: u32,
      // how many body bytes follow: the announced number, or fewer, or more
      bodyDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }) }),
      fill: fc.integer({ min: 0, max: 255 }),
    })
    .map(({ length, type, stream, bodyDelta, fill }) => {
      const header = Buffer.alloc(HEADER_SIZE);
      header.writeUInt32BE(length, 0);
      header.writeUInt8(type, 4);
      header.writeUInt32BE(stream, 5);
      const bodyBytes = Math.max(0, Math.min(Math.max(0, length - LENGTH_OVERHEAD), 2048) + bodyDelta);
      return Buffer.concat([header, Buffer.alloc(bodyBytes, fill)]);
    }),
);

const maxFrameSize = fc.oneof(
  fc.constantFrom(LENGTH_OVERHEAD, LENGTH_OVERHEAD + 1, 64, 1024, 4096, 65_536, 1024 * 1024, 2 * 1024 * 1024),
  fc.integer({ min: LENGTH_OVERHEAD, max: 70_000 }),
);

// ---------------------------------------------------------------------------------------------
// Helpers

const encode = (frames: readonly PlainFrame[]): Buffer =>
  Buffer.concat(frames.map((f) => encodeFrame(f.type as FrameType, f.stream, f.body)));

const describe = (f: PlainFrame | Frame) => `${f.type}:${f.stream}:${f.body.toString('hex')}`;

/** How the decoder is set up: whole frames, or DATA streamed with a cap on the other frames. */
interface Mode {
  readonly streamData: boolean;
  readonly maxControlFrameSize?: number;
}

/** Largest length a non-DATA frame may have in `mode` (the decoder's default cap is the JSON body limit). */
function controlLimit(mode: Mode): number {
  return mode.streamData ? (mode.maxControlFrameSize ?? MAX_JSON_BODY + LENGTH_OVERHEAD) : Number.POSITIVE_INFINITY;
}

/**
 * The reference: decode a whole buffer at once. `error` when a complete 9-byte header is bad;
 * `rest` is what the decoder still buffers of an incomplete frame (its header, once complete, is
 * consumed and not counted). With `streamData`, the bytes of an incomplete DATA body that have
 * arrived are handed out already, and not buffered.
 */
function referenceDecode(bytes: Buffer, max: number, mode: Mode): { frames: PlainFrame[]; error: boolean; rest: number } {
  const { streamData } = mode;
  const controlMax = controlLimit(mode);
  const frames: PlainFrame[] = [];
  let at = 0;
  for (;;) {
    if (bytes.length - at < HEADER_SIZE) return { frames, error: false, rest: bytes.length - at };
    const length = bytes.readUInt32BE(at);
    const type = bytes.readUInt8(at + 4);
    if (length > max || length < LENGTH_OVERHEAD || !isFrameType(type)) return { frames, error: true, rest: 0 };
    if (type !== FrameType.DATA && length > controlMax) return { frames, error: true, rest: 0 };
    const stream = bytes.readUInt32BE(at + 5);
    const available = bytes.length - at - HEADER_SIZE;
    if (available < length - LENGTH_OVERHEAD) {
      if (streamData && type === FrameType.DATA) {
        if (available > 0) frames.push({ type, stream, body: bytes.subarray(at + HEADER_SIZE) });
        return { frames, error: false, rest: 0 };
      }
      return { frames, error: false, rest: available };
    }
    frames.push({ type, stream, body: bytes.subarray(at + HEADER_SIZE, at + 4 + length) });
    at += 4 + length;
  }
}

/**
 * Frames as comparable text. In `streamData` mode consecutive DATA frames of one stream are joined
 * into one run (fragments and frame boundaries of data carry no meaning). `open` is the text
 * without its final terminator when it ends in a DATA run, which later bytes may extend.
 */
function transcript(frames: readonly PlainFrame[], streamData: boolean): { text: string; open: string } {
  const tokens: string[] = [];
  let run: { stream: number; hex: string[] } | undefined;
  const flush = () => {
    if (run) tokens.push(`D:${run.stream}:${run.hex.join('')};`);
    run = undefined;
  };
  for (const f of frames) {
    if (streamData && f.type === FrameType.DATA) {
      if (run && run.stream !== f.stream) flush();
      run ??= { stream: f.stream, hex: [] };
      run.hex.push(f.body.toString('hex'));
      continue;
    }
    flush();
    tokens.push(`${describe(f)};`);
  }
  const endsOpen = run !== undefined;
  flush();
  const text = tokens.join('');
  return { text, open: endsOpen ? text.slice(0, -1) : text };
}

/** `a` is a prefix of `b`, allowing `a`'s last DATA run to continue in `b`. */
function isPrefix(a: { text: string; open: string }, b: { text: string }): boolean {
  return b.text.startsWith(a.open);
}

interface FeedResult {
  /** Frames returned by successful pushes (bodies copied). */
  readonly frames: PlainFrame[];
  /** The error thrown, if one was. */
  readonly error: FileShareError | undefined;
  /** Largest Buffer.allocUnsafe / alloc request seen while pushing (a header spanning chunks needs 9). */
  readonly largestAllocation: number;
  readonly pendingBytes: number;
}

/**
 * Push `chunks` into a fresh decoder, checking on the way that only FileShareError EPROTO is ever
 * thrown, that every returned frame has a valid type and a body within `max`, and that after the
 * first throw every later push (of the remaining chunks, then an empty one) throws the same error.
 */
function feed(chunks: readonly Buffer[], max: number, mode: Mode): FeedResult {
  const decoder = new FrameDecoder(
    max,
    mode.streamData
      ? { streamData: true, ...(mode.maxControlFrameSize === undefined ? {} : { maxControlFrameSize: mode.maxControlFrameSize }) }
      : {},
  );
  const frames: PlainFrame[] = [];
  let error: FileShareError | undefined;
  let largestAllocation = 0;
  const { allocUnsafe, alloc } = Buffer;
  // the decoder must size nothing from a length it has not checked: watch every allocation
  Buffer.allocUnsafe = (size: number) => {
    largestAllocation = Math.max(largestAllocation, size);
    return allocUnsafe(size);
  };
  Buffer.alloc = ((size: number, ...rest: unknown[]) => {
    largestAllocation = Math.max(largestAllocation, size);
    return (alloc as (...args: unknown[]) => Buffer)(size, ...rest);
  }) as typeof Buffer.alloc;
  try {
    for (const chunk of [...chunks, Buffer.alloc(0)]) {
      let out: Frame[];
      try {
        out = decoder.push(chunk);
      } catch (err) {
        if (!(err instanceof FileShareError))
          throw new Error(`push threw something other than a FileShareError: ${String(err)}`, { cause: err });
        assert.is(err.code, 'EPROTO', `push threw ${err.code}: ${err.message}`);
        if (error) assert.ok(err === error, 'a poisoned decoder throws the same error again');
        error = err;
        assert.is(decoder.pendingBytes, 0, 'a failed decoder holds no buffered bytes');
        continue;
      }
      assert.not.ok(error, 'a decoder that threw must keep throwing (poisoned), not return frames');
      for (const frame of out) {
        assert.ok(isFrameType(frame.type), `returned frame of unknown type ${frame.type}`);
        assert.ok(frame.body.length <= max - LENGTH_OVERHEAD, `returned body of ${frame.body.length} bytes with maxFrameSize ${max}`);
        assert.ok(Number.isInteger(frame.stream) && frame.stream >= 0 && frame.stream <= 0xffffffff);
        frames.push({ type: frame.type, stream: frame.stream, body: Buffer.from(frame.body) });
      }
    }
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
    Buffer.alloc = alloc;
  }
  return { frames, error, largestAllocation, pendingBytes: decoder.pendingBytes };
}

/**
 * Nothing bigger than a header or the largest body `max` allows was allocated; with `streamData`,
 * nothing bigger than a control frame (DATA is handed out without copies).
 */
function assertAllocationBounded(result: FeedResult, max: number, mode: Mode): void {
  const bound = Math.max(HEADER_SIZE, Math.min(max, controlLimit(mode)) - LENGTH_OVERHEAD);
  assert.ok(result.largestAllocation <= bound, `allocated ${result.largestAllocation} bytes with maxFrameSize ${max}`);
}

/** The decoder agrees with the reference on `bytes` split into `chunks`. */
function assertMatchesReference(bytes: Buffer, chunks: readonly Buffer[], max: number, mode: Mode): FeedResult {
  const expected = referenceDecode(bytes, max, mode);
  const result = feed(chunks, max, mode);
  assertAllocationBounded(result, max, mode);
  const got = transcript(result.frames, mode.streamData);
  const want = transcript(expected.frames, mode.streamData);
  if (expected.error) {
    assert.ok(result.error, 'the reference found a bad header but the decoder did not throw');
    // frames completed in the same push as the bad header are dropped with it: a prefix is enough
    assert.ok(isPrefix(got, want), `frames before the bad header:\n  got  ${got.text}\n  want ${want.text}`);
  } else {
    assert.not.ok(result.error, `unexpected ${result.error?.message}`);
    assert.is(got.text, want.text);
    assert.is(result.pendingBytes, expected.rest, 'bytes of an incomplete frame stay buffered');
  }
  return result;
}

/** The modes every property runs in; `smallCap` draws a `maxControlFrameSize` per case. */
const MODES = [
  { label: 'whole frames', streamData: false, smallCap: false },
  { label: 'streamData', streamData: true, smallCap: false },
  { label: 'streamData, small control cap', streamData: true, smallCap: true },
] as const;

/** A control-frame cap drawn for the `smallCap` mode (ignored by the others). */
const controlCap = fc.oneof(fc.integer({ min: LENGTH_OVERHEAD, max: 64 }), fc.integer({ min: LENGTH_OVERHEAD, max: 5000 }));

function modeOf(streamData: boolean, smallCap: boolean, cap: number): Mode {
  return smallCap ? { streamData, maxControlFrameSize: cap } : { streamData };
}

/** The largest length among the non-DATA frames (what a control cap must allow for valid input). */
function largestControl(frames: readonly PlainFrame[]): number {
  return Math.max(LENGTH_OVERHEAD, ...frames.filter((f) => f.type !== FrameType.DATA).map((f) => f.body.length + LENGTH_OVERHEAD));
}

// ---------------------------------------------------------------------------------------------
// Properties

for (const { streamData, smallCap, label } of MODES) {
  test(`[${label}] valid frames split at arbitrary points decode to exactly the same frames`, async () => {
    await checkProperty(
      `decoder/roundtrip/${label}`,
      fc.property(fc.array(validFrame, { maxLength: 24 }), splitPoints, fc.nat({ max: 64 }), controlCap, (frames, points, slack, cap) => {
        const bytes = encode(frames);
        const max = Math.max(LENGTH_OVERHEAD, ...frames.map((f) => f.body.length + LENGTH_OVERHEAD)) + slack;
        const mode = modeOf(streamData, smallCap, Math.max(cap, largestControl(frames)));
        const result = feed(splitAt(bytes, points), max, mode);
        assert.not.ok(result.error, result.error?.message);
        assert.is(transcript(result.frames, streamData).text, transcript(frames, streamData).text);
        assert.is(result.pendingBytes, 0);
        assertAllocationBounded(result, max, mode);
        if (!streamData) assert.is(result.frames.length, frames.length);
      }),
      CI_RUNS,
    );
  });

  test(`[${label}] valid frames fed one byte at a time decode to the same frames`, async () => {
    await checkProperty(
      `decoder/bytewise/${label}`,
      fc.property(fc.array(validFrame, { maxLength: 6 }), controlCap, (frames, cap) => {
        const bytes = encode(frames);
        const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
        const mode = modeOf(streamData, smallCap, Math.max(cap, largestControl(frames)));
        const result = feed(chunks, 8192, mode);
        assert.not.ok(result.error);
        assert.is(transcript(result.frames, streamData).text, transcript(frames, streamData).text);
        assertAllocationBounded(result, 8192, mode);
      }),
      Math.max(1, Math.floor(CI_RUNS / 3)),
    );
  });

  test(`[${label}] arbitrary bytes: only EPROTO, bounded allocation, poisoned after a throw, same result as the reference`, async () => {
    await checkProperty(
      `decoder/arbitrary/${label}`,
      fc.property(fc.array(hostilePiece, { maxLength: 12 }), splitPoints, maxFrameSize, controlCap, (pieces, points, max, cap) => {
        const bytes = Buffer.concat(pieces);
        assertMatchesReference(bytes, splitAt(bytes, points), max, modeOf(streamData, smallCap, cap));
      }),
      CI_RUNS,
    );
  });
}

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'length'; frame: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant('length' as const), frame: fc.nat(), value: u32 }),
);

/** Apply `m`; returns the new bytes and the first offset that may differ from the input. */
function mutate(bytes: Buffer, m: Mutation, frameStarts: readonly number[]): { bytes: Buffer; from: number } {
  const at = bytes.length === 0 ? 0 : m.kind === 'length' ? 0 : m.at % (bytes.length + 1);
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return { bytes, from: 0 };
      const i = at % bytes.length;
      const out = Buffer.from(bytes);
      out[i] = out[i]! ^ m.xor;
      return { bytes: out, from: i };
    }
    case 'truncate':
      return { bytes: bytes.subarray(0, at), from: at };
    case 'duplicate':
      return { bytes: Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + m.length), bytes.subarray(at)]), from: at };
    case 'insert':
      return { bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]), from: at };
    case 'delete':
      return { bytes: Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]), from: at };
    case 'length': {
      if (frameStarts.length === 0) return { bytes, from: bytes.length };
      const start = frameStarts[m.frame % frameStarts.length]!;
      if (start + 4 > bytes.length) return { bytes, from: bytes.length };
      const out = Buffer.from(bytes);
      out.writeUInt32BE(m.value, start);
      return { bytes: out, from: start };
    }
  }
}

for (const { streamData, smallCap, label } of MODES) {
  test(`[${label}] mutated valid streams give frames or EPROTO, and keep the frames before the first change`, async () => {
    await checkProperty(
      `decoder/mutations/${label}`,
      fc.property(
        fc.array(validFrame, { minLength: 1, maxLength: 12 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        splitPoints,
        maxFrameSize,
        controlCap,
        (frames, mutations, points, extraMax, cap) => {
          const original = encode(frames);
          const starts: number[] = [];
          let offset = 0;
          for (const f of frames) {
            starts.push(offset);
            offset += HEADER_SIZE + f.body.length;
          }
          const max = Math.max(LENGTH_OVERHEAD, ...frames.map((f) => f.body.length + LENGTH_OVERHEAD)) + (extraMax % 1024);
          let bytes = original;
          let unchanged = original.length;
          for (const m of mutations) {
            const next = mutate(bytes, m, starts);
            bytes = next.bytes;
            unchanged = Math.min(unchanged, next.from);
          }
          const result = assertMatchesReference(
            bytes,
            splitAt(bytes, points),
            max,
            modeOf(streamData, smallCap, Math.max(cap, largestControl(frames))),
          );
          // every original frame that lies wholly before the first changed byte comes out intact
          const intact = transcript(
            frames.filter((f, i) => starts[i]! + HEADER_SIZE + f.body.length <= unchanged),
            streamData,
          );
          const got = transcript(result.frames, streamData);
          assert.ok(isPrefix(intact, got) || isPrefix(got, intact), `the untouched prefix:\n  got    ${got.text}\n  intact ${intact.text}`);
          if (!result.error) assert.ok(isPrefix(intact, got), 'an untouched prefix decodes completely');
        },
      ),
      CI_RUNS,
    );
  });
}

test.run();
