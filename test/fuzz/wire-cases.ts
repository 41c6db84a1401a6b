/**
 * fast-check arbitraries for the live-server fuzzer (server.fuzz.test.ts): a case is a handshake
 * prefix (a valid HELLO most of the time, then usually a real login) followed by steps, half of
 * them hostile: requests with arguments of the wrong type (`path: 42`, `"\u0000"`, `size: -1`,
 * `1e300`, huge strings, deeply nested objects), truncated, non-object or oversized JSON, frames
 * on streams that are 0, reused, never opened or huge, DATA without an upload, END with bad hashes,
 * CREDIT with a wrong body length, CANCEL for unknown ids, PINGs over 64 bytes, a second HELLO,
 * frames only a server may send, unknown types, raw garbage, lengths below 5 or over the limit.
 * The other half are things a proper client does (plausible requests on odd paths, an upload that
 * waits for its go-ahead, a download granted credit), so that the hostile frames also land in the
 * server's transfer states.
 *
 * {@link buildCase} turns a case into wire actions, tracking request ids so that "next", "last"
 * and "earlier" streams mean something, and remembering what was uploaded on each stream so the
 * runner can check the server's `{ bytes, sha256 }` answers.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { encodeCredit, encodeFrame, encodeHeader } from '../../src/protocol/encoder.ts';
import { MAX_JSON_BODY } from '../../src/protocol/fields.ts';
import { DEFAULT_MAX_FRAME_SIZE, FrameType, LENGTH_OVERHEAD, PROTOCOL_NAME } from '../../src/protocol/frame.ts';

export const USERNAME = 'alice';
export const PASSWORD = 'pw';

/** Files the fuzzer's root is seeded with, so reads, downloads and renames find something. */
export const SEED_FILES: Readonly<Record<string, number>> = {
  'seed.bin': 200 * 1024,
  'empty.txt': 0,
  'dir/small.txt': 11,
  'dir/sub/deep.txt': 3,
};

// ---------------------------------------------------------------------------------------------
// Values

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 64 }),
  fc.integer({ min: 0, max: 0xffffffff }),
);

const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));

const PATHS = [
  '/',
  '/a.txt',
  '/dir',
  '/dir/',
  '/dir/small.txt',
  '/dir/sub',
  '/dir/sub/deep.txt',
  '/seed.bin',
  '/empty.txt',
  '/new',
  '/new/x.bin',
  'relative.txt',
  '',
  '.',
  '..',
  '/..',
  '/../etc/passwd',
  '/a/../../b',
  '//dir//small.txt/',
  '/dir/./sub/../small.txt',
  '/.fileshare-part-0123456789abcdef-a.txt',
  '/dir/.fileshare-part-x',
  '\u0000',
  '/a\u0000b',
  '/\ud800',
  '/ünïcödé ✓.txt',
  '/con',
  '/a:b',
  '/back\\slash',
  `/${'n'.repeat(255)}`,
  `/${'n'.repeat(256)}`,
  `/${'d/'.repeat(1400)}x`,
  `/${'x'.repeat(4097)}`,
];

/** A path-like string: mostly meaningful, sometimes arbitrary. */
const pathString = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PATHS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map((s) => `/${s}`) },
  // any UTF-16 units, lone surrogates and NUL included (fc.string's 'binary' unit takes seconds to build)
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units)) },
);

/** Values of the wrong shape for any field. */
const wildValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    42,
    -1,
    0,
    1.5,
    1e300,
    -0,
    2 ** 53,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    true,
    false,
    null,
    '',
    '0',
    '5',
    [],
    {},
    [1, 2],
    { path: '/' },
  ),
  fc.constant('x'.repeat(5000)),
  fc.constant('\u0000'),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 0, max: 1500 }).map((depth) => nested(depth)),
);

/** `depth` nested arrays or objects (JSON.parse and the field readers must cope). */
function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

const countValue = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 5000 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1e300, 1.5, 2 ** 53, 2 ** 40, 200 * 1024, '5', null) },
  { weight: 1, arbitrary: wildValue },
);

const OPS = ['login', 'logout', 'list', 'stat', 'mkdir', 'rmdir', 'delete', 'rename', 'upload', 'upload-batch', 'download', 'discard'];

const opValue = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...OPS) },
  { weight: 1, arbitrary: fc.constantFrom('', 'toString', '__proto__', 'constructor', 'hasOwnProperty', 'LIST', 'x'.repeat(3000)) },
  { weight: 1, arbitrary: wildValue },
);

/** Request arguments: each field absent, plausible or wild. */
const requestArgs = fc.record(
  {
    op: opValue,
    path: fc.oneof({ weight: 4, arbitrary: pathString }, { weight: 1, arbitrary: wildValue }),
    from: fc.oneof(pathString, wildValue),
    to: fc.oneof(pathString, wildValue),
    size: countValue,
    offset: countValue,
    overwrite: fc.oneof(fc.boolean(), wildValue),
    // upload-batch: entries plausible or wild, and the list itself wild at times
    files: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.array(
          fc.oneof(
            {
              weight: 3,
              arbitrary: fc.record(
                {
                  path: fc.oneof(pathString, wildValue),
                  size: countValue,
                  sha256: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), wildValue),
                  mtime: countValue,
                },
                { requiredKeys: [] },
              ),
            },
            { weight: 1, arbitrary: wildValue },
          ),
          { maxLength: 40 },
        ),
      },
      { weight: 1, arbitrary: wildValue },
    ),
    recursive: fc.oneof(fc.boolean(), wildValue),
    username: fc.oneof(fc.constantFrom(USERNAME, 'bob', ''), wildValue),
    password: fc.oneof(fc.constantFrom(PASSWORD, 'wrong'), wildValue),
  },
  { requiredKeys: ['op'] },
);

/** Requests that make sense, so that a case lives long enough to reach deeper states. */
const plausibleArgs: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constantFrom('list', 'stat', 'delete'), path: pathString }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('mkdir', 'rmdir'), path: pathString, recursive: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rename'), from: pathString, to: pathString }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('login'),
      username: fc.constantFrom(USERNAME, 'bob'),
      password: fc.constantFrom(PASSWORD, 'wrong'),
    }),
  },
  // logout ends the connection, and with it the case
  { weight: 1, arbitrary: fc.constant({ op: 'logout' }) },
);

/** How a JSON body goes on the wire. */
type JsonForm =
  | { form: 'json' }
  | { form: 'truncated'; at: number }
  | { form: 'bytes'; bytes: Buffer }
  | { form: 'nonObject'; text: string }
  | { form: 'huge' };

const jsonForm: fc.Arbitrary<JsonForm> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ form: 'json' as const }) },
  { weight: 2, arbitrary: fc.nat().map((at) => ({ form: 'truncated' as const, at })) },
  { weight: 1, arbitrary: bytes(64).map((b) => ({ form: 'bytes' as const, bytes: b })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('[1,2]', 'null', '"op"', '42', 'true', '', '{}', '{"op":"stat","__proto__":{"path":"/"}}')
      .map((text) => ({ form: 'nonObject' as const, text })),
  },
  { weight: 1, arbitrary: fc.constant({ form: 'huge' as const }) },
);

function encodeJson(value: unknown, form: JsonForm): Buffer {
  switch (form.form) {
    case 'json':
      return Buffer.from(JSON.stringify(value) ?? 'null');
    case 'truncated': {
      const text = Buffer.from(JSON.stringify(value) ?? 'null');
      return text.subarray(0, form.at % (text.length + 1));
    }
    case 'bytes':
      return form.bytes;
    case 'nonObject':
      return Buffer.from(form.text);
    case 'huge':
      // over the 256 KiB JSON limit (and the control-frame cap), under the frame limit
      return Buffer.from(JSON.stringify({ ...(value as object), pad: 'p'.repeat(300 * 1024) }));
  }
}

// ---------------------------------------------------------------------------------------------
// Steps

/** Which stream a frame goes on, resolved against the ids used so far. */
export type StreamRef = { ref: 'next'; skip: number } | { ref: 'last' } | { ref: 'earlier'; back: number } | { ref: 'fixed'; id: number };

const requestStream: fc.Arbitrary<StreamRef> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ ref: 'next' as const, skip: 0 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1000 }).map((skip) => ({ ref: 'next' as const, skip })) },
  { weight: 1, arbitrary: fc.constant({ ref: 'last' as const }) },
  { weight: 1, arbitrary: u32.map((id) => ({ ref: 'fixed' as const, id })) },
);

const targetStream: fc.Arbitrary<StreamRef> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ ref: 'last' as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((back) => ({ ref: 'earlier' as const, back })) },
  { weight: 1, arbitrary: fc.constant({ ref: 'next' as const, skip: 0 }) },
  { weight: 2, arbitrary: u32.map((id) => ({ ref: 'fixed' as const, id })) },
);

export type Step =
  | { kind: 'request'; stream: StreamRef; args: Record<string, unknown>; form: JsonForm }
  | { kind: 'data'; stream: StreamRef; body: Buffer }
  | { kind: 'end'; stream: StreamRef; end: 'correct' | 'wrongHash' | 'wrongBytes' | 'wild'; wild: Record<string, unknown>; form: JsonForm }
  | { kind: 'credit'; stream: StreamRef; amount: number; bodyLength: number }
  | { kind: 'cancel'; stream: StreamRef; body: Buffer }
  | { kind: 'ping'; stream: number; body: Buffer }
  | { kind: 'hello'; hello: Record<string, unknown>; form: JsonForm }
  | { kind: 'serverOnly'; type: number; stream: StreamRef; body: Buffer }
  | { kind: 'unknownType'; type: number; stream: number; body: Buffer }
  | { kind: 'garbage'; bytes: Buffer }
  | { kind: 'badLength'; length: number; type: number; trailing: Buffer }
  | { kind: 'wait'; ms: number }
  | {
      kind: 'upload';
      op: 'upload' | 'discard';
      path: unknown;
      size: unknown;
      data: Buffer[];
      waitForGoAhead: boolean;
      end: 'correct' | 'wrongHash' | 'wrongBytes' | 'none';
      waitForResult: boolean;
      cancel: boolean;
    }
  | { kind: 'download'; path: unknown; credits: number[]; waitForData: boolean; cancel: boolean }
  | {
      kind: 'batch';
      files: Array<{ path: unknown; data: Buffer; rightDigest: boolean }>;
      overwrite: boolean;
      end: 'correct' | 'wrongHash' | 'wrongBytes' | 'none';
      waitForResult: boolean;
      cancel: boolean;
    };

const helloValue = fc.record({
  protocol: fc.oneof({ weight: 8, arbitrary: fc.constant(PROTOCOL_NAME) }, { weight: 1, arbitrary: wildValue }),
  version: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom([1, 0], [1, 7]) },
    { weight: 1, arbitrary: fc.constantFrom([2, 0], [0, 9], [1], [1, -1], [1, 0.5], '1.0') },
    { weight: 1, arbitrary: wildValue },
  ),
  agent: fc.oneof(fc.constant('fuzz'), wildValue),
  maxFrameSize: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(1024 * 1024, 4096, 1024, 16 * 1024 * 1024) },
    { weight: 2, arbitrary: fc.integer({ min: 1024, max: 16 * 1024 * 1024 }) },
    { weight: 1, arbitrary: countValue },
  ),
  window: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(1024 * 1024, 4096, 1024, 0xffffffff) },
    { weight: 2, arbitrary: fc.integer({ min: 1024, max: 8 * 1024 * 1024 }) },
    { weight: 1, arbitrary: countValue },
  ),
});

/** An `upload-batch` with real data: names fresh or odd, digests mostly right, the END mostly correct. */
const batchStep: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant('batch' as const),
  files: fc.array(
    fc.record({
      path: fc.oneof(
        { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).map((s) => `/batch-${s.replace(/[/\0]/g, '_')}`) },
        { weight: 1, arbitrary: fc.constantFrom('/seed.bin', '/dir/small.txt', '/dir', '/no/such/dir/f', '/dir/') },
        { weight: 1, arbitrary: pathString },
        { weight: 1, arbitrary: wildValue },
      ),
      data: fc.oneof(bytes(64), bytes(2000, 500)),
      rightDigest: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
    { minLength: 1, maxLength: 24 },
  ),
  overwrite: fc.boolean(),
  end: fc.constantFrom(
    'correct' as const,
    'correct' as const,
    'correct' as const,
    'wrongHash' as const,
    'wrongBytes' as const,
    'none' as const,
  ),
  waitForResult: fc.boolean(),
  cancel: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

/** Steps a well-behaved client could take (on a possibly odd path): they keep the connection open. */
const benignStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: batchStep },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      stream: fc.constant({ ref: 'next' as const, skip: 0 }),
      args: plausibleArgs,
      form: fc.constant({ form: 'json' as const }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ping' as const), stream: u32, body: bytes(64) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 30 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('upload' as const),
      op: fc.constantFrom('upload' as const, 'upload' as const, 'discard' as const),
      path: fc.oneof(
        { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).map((s) => `/up-${s.replace(/[/\0]/g, '_')}`) },
        { weight: 1, arbitrary: pathString },
        { weight: 1, arbitrary: wildValue },
      ),
      size: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: countValue }),
      data: fc.array(fc.oneof(bytes(64, 1), bytes(3000, 1000)), { maxLength: 4 }),
      waitForGoAhead: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      end: fc.constantFrom(
        'correct' as const,
        'correct' as const,
        'correct' as const,
        'wrongHash' as const,
        'wrongBytes' as const,
        'none' as const,
      ),
      waitForResult: fc.boolean(),
      cancel: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('download' as const),
      path: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('/seed.bin', '/dir/small.txt', '/empty.txt') },
        { weight: 1, arbitrary: pathString },
      ),
      credits: fc.array(u32, { maxLength: 3 }),
      waitForData: fc.boolean(),
      cancel: fc.boolean(),
    }),
  },
);

/** Steps that break a rule (some only make a request fail, most are connection errors). */
const hostileStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('request' as const), stream: requestStream, args: requestArgs, form: jsonForm }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('data' as const), stream: targetStream, body: fc.oneof(bytes(64), bytes(4096, 1024)) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      stream: targetStream,
      end: fc.constantFrom('correct' as const, 'wrongHash' as const, 'wrongBytes' as const, 'wild' as const),
      wild: fc.record(
        { bytes: countValue, sha256: fc.oneof(fc.constantFrom('', 'AB'.repeat(32), 'g'.repeat(64), '0'.repeat(65)), wildValue) },
        { requiredKeys: [] },
      ),
      form: jsonForm,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('credit' as const),
      stream: targetStream,
      amount: u32,
      bodyLength: fc.oneof({ weight: 4, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 9 }) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('cancel' as const),
      stream: targetStream,
      body: fc.oneof(fc.constant(Buffer.alloc(0)), fc.constant(Buffer.from('{"reason":"fuzz"}')), bytes(32)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('ping' as const),
      stream: u32,
      body: fc.oneof({ weight: 3, arbitrary: bytes(64) }, { weight: 1, arbitrary: bytes(200, 65) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hello' as const), hello: helloValue, form: jsonForm }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('serverOnly' as const),
      type: fc.constantFrom(FrameType.PARTIAL, FrameType.RESPONSE, FrameType.ERROR, FrameType.PONG, FrameType.GOAWAY),
      stream: targetStream,
      body: fc.oneof(fc.constant(Buffer.from('{"code":"EIO","message":"x"}')), bytes(32)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('unknownType' as const),
      type: fc.oneof(fc.constant(0), fc.integer({ min: 13, max: 255 })),
      stream: u32,
      body: bytes(32),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('garbage' as const),
      bytes: fc.oneof(bytes(64, 1), fc.constant(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('badLength' as const),
      // below 5, over the server's default limit, or between the control-frame cap and that limit
      length: fc.oneof(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: DEFAULT_MAX_FRAME_SIZE + 1, max: 0xffffffff }),
        fc.constantFrom(0xffffffff, DEFAULT_MAX_FRAME_SIZE + 1, MAX_JSON_BODY + LENGTH_OVERHEAD + 1),
      ),
      type: fc.integer({ min: 0, max: 255 }),
      trailing: bytes(64),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 60 }) }) },
);

/** Half hostile, half benign, so that hostile frames also land in transfer states. */
const step: fc.Arbitrary<Step> = fc.oneof({ weight: 1, arbitrary: hostileStep }, { weight: 1, arbitrary: benignStep });

export interface Case {
  /** `valid`: a proper HELLO; `fuzzed`: a HELLO body from the arbitraries; `none`: straight to the steps. */
  readonly hello: { kind: 'valid' | 'none' } | { kind: 'fuzzed'; hello: Record<string, unknown>; form: JsonForm };
  /** Log in as alice (with the right password, or a wrong one) on stream 1 and wait for the answer. */
  readonly login: 'none' | 'right' | 'wrong';
  readonly steps: readonly Step[];
  /** Chunk sizes the bytes are cut into (cycled), and how often to pause between chunks. */
  readonly chunkSizes: readonly number[];
  readonly pauseEvery: number;
  /** How the test leaves: hang up at once, or half-close and let the server finish. */
  readonly leave: 'destroy' | 'end';
}

export const wireCase: fc.Arbitrary<Case> = fc.record({
  hello: fc.oneof(
    { weight: 12, arbitrary: fc.constant({ kind: 'valid' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('fuzzed' as const), hello: helloValue, form: jsonForm }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
  ),
  login: fc.constantFrom('none' as const, 'right' as const, 'right' as const, 'right' as const, 'right' as const, 'wrong' as const),
  steps: fc.array(step, { maxLength: 10 }),
  chunkSizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 4 }),
  pauseEvery: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 })),
  leave: fc.constantFrom('destroy' as const, 'end' as const),
});

// ---------------------------------------------------------------------------------------------
// From a case to wire actions

/** What the runner does: write bytes, or pause until a frame arrives on `stream` (or `ms` pass). */
export type Action = { write: Buffer } | { waitMs: number; stream?: number; types?: readonly number[] };

export interface BuiltCase {
  readonly actions: Action[];
  /** The HELLO we sent, when it was valid: the server must respect its maxFrameSize. */
  readonly announcedMaxFrameSize: number | undefined;
  /** Operation of each request id we sent as a proper JSON object. */
  readonly ops: Map<number, string>;
  /** DATA bytes sent on each stream before its first END, for checking upload answers. */
  readonly uploaded: Map<number, Buffer[]>;
  /** Streams whose DATA or END ordering we broke (DATA after END): their totals are not predictable. */
  readonly unpredictable: Set<number>;
  /**
   * Each `upload-batch` step's files in order: what a stored file's answer must say (`bytes`,
   * `sha256` of its data), or undefined where its announced digest was wrong and it must fail.
   */
  readonly batches: Map<number, Array<{ bytes: number; sha256: string } | undefined>>;
}

export function validHello(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { protocol: PROTOCOL_NAME, version: [1, 0], agent: 'fuzz', maxFrameSize: 1024 * 1024, window: 1024 * 1024, ...extra };
}

const sha256 = (parts: readonly Buffer[]) => {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
};

/** Resolve the symbolic streams and encode every step. */
export function buildCase(c: Case): BuiltCase {
  const actions: Action[] = [];
  const ops = new Map<number, string>();
  const uploaded = new Map<number, Buffer[]>();
  const ended = new Set<number>();
  const unpredictable = new Set<number>();
  const batches = new Map<number, Array<{ bytes: number; sha256: string } | undefined>>();
  let lastId = 0;
  let announcedMaxFrameSize: number | undefined;
  const write = (buffer: Buffer) => actions.push({ write: buffer });
  const resolve = (ref: StreamRef): number => {
    switch (ref.ref) {
      case 'next':
        return Math.min(0xffffffff, lastId + 1 + ref.skip);
      case 'last':
        return lastId;
      case 'earlier':
        return Math.max(0, lastId - ref.back);
      case 'fixed':
        return ref.id;
    }
  };
  const request = (id: number, args: Record<string, unknown>, form: JsonForm) => {
    // a reused id is a connection error: only a fresh one names a request
    if (id > lastId) {
      lastId = id;
      if (form.form === 'json' && typeof args.op === 'string') ops.set(id, args.op);
    }
    write(encodeFrame(FrameType.REQUEST, id, encodeJson(args, form)));
  };
  const data = (id: number, body: Buffer) => {
    if (ended.has(id)) unpredictable.add(id);
    else uploaded.set(id, [...(uploaded.get(id) ?? []), body]);
    write(encodeFrame(FrameType.DATA, id, body));
  };
  const end = (id: number, kind: 'correct' | 'wrongHash' | 'wrongBytes', form: JsonForm = { form: 'json' }) => {
    const parts = uploaded.get(id) ?? [];
    const bytes = parts.reduce((n, p) => n + p.length, 0);
    const body =
      kind === 'correct'
        ? { bytes, sha256: sha256(parts) }
        : kind === 'wrongHash'
          ? { bytes, sha256: sha256([...parts, Buffer.from('!')]) }
          : { bytes: bytes + 1, sha256: sha256(parts) };
    ended.add(id);
    write(encodeFrame(FrameType.END, id, encodeJson(body, form)));
  };

  if (c.hello.kind === 'valid') {
    write(encodeFrame(FrameType.HELLO, 0, encodeJson(validHello(), { form: 'json' })));
    announcedMaxFrameSize = 1024 * 1024;
  } else if (c.hello.kind === 'fuzzed') {
    write(encodeFrame(FrameType.HELLO, 0, encodeJson(c.hello.hello, c.hello.form)));
    const h = c.hello.hello;
    // if the server accepts this HELLO, it must honour its maxFrameSize
    if (typeof h.maxFrameSize === 'number') announcedMaxFrameSize = h.maxFrameSize;
  }
  if (c.login !== 'none') {
    request(1, { op: 'login', username: USERNAME, password: c.login === 'right' ? PASSWORD : 'wrong' }, { form: 'json' });
    actions.push({ waitMs: 3000, stream: 1, types: [FrameType.RESPONSE, FrameType.ERROR] });
  }

  for (const s of c.steps) {
    switch (s.kind) {
      case 'request':
        request(resolve(s.stream), s.args, s.form);
        break;
      case 'data':
        data(resolve(s.stream), s.body);
        break;
      case 'end': {
        const id = resolve(s.stream);
        if (s.end === 'wild') {
          ended.add(id);
          write(encodeFrame(FrameType.END, id, encodeJson(s.wild, s.form)));
        } else {
          end(id, s.end, s.form);
        }
        break;
      }
      case 'credit': {
        const id = resolve(s.stream);
        const body = encodeCredit(id, s.amount).subarray(9);
        write(encodeFrame(FrameType.CREDIT, id, s.bodyLength === 4 ? body : Buffer.alloc(s.bodyLength, 7)));
        break;
      }
      case 'cancel':
        write(encodeFrame(FrameType.CANCEL, resolve(s.stream), s.body));
        break;
      case 'ping':
        write(encodeFrame(FrameType.PING, s.stream, s.body));
        break;
      case 'hello':
        write(encodeFrame(FrameType.HELLO, 0, encodeJson(s.hello, s.form)));
        break;
      case 'serverOnly':
        write(encodeFrame(s.type as FrameType, resolve(s.stream), s.body));
        break;
      case 'unknownType': {
        const frame = encodeFrame(FrameType.PING, s.stream, s.body);
        frame.writeUInt8(s.type, 4);
        write(frame);
        break;
      }
      case 'garbage':
        write(s.bytes);
        break;
      case 'badLength': {
        const header = encodeHeader(FrameType.PING, 0, 0);
        header.writeUInt32BE(s.length, 0);
        header.writeUInt8(s.type, 4);
        write(Buffer.concat([header, s.trailing]));
        break;
      }
      case 'wait':
        actions.push({ waitMs: s.ms });
        break;
      case 'upload': {
        const id = resolve({ ref: 'next', skip: 0 });
        request(id, s.op === 'discard' ? { op: 'discard', size: s.size } : { op: 'upload', path: s.path, size: s.size, overwrite: true }, {
          form: 'json',
        });
        if (s.waitForGoAhead) actions.push({ waitMs: 500, stream: id, types: [FrameType.PARTIAL, FrameType.ERROR] });
        for (const body of s.data) data(id, body);
        if (s.end !== 'none') end(id, s.end);
        if (s.waitForResult) actions.push({ waitMs: 500, stream: id, types: [FrameType.RESPONSE, FrameType.ERROR] });
        if (s.cancel) write(encodeFrame(FrameType.CANCEL, id));
        break;
      }
      case 'batch': {
        const id = resolve({ ref: 'next', skip: 0 });
        const files = s.files.map((f) => ({
          path: f.path,
          size: f.data.length,
          sha256: sha256(f.rightDigest ? [f.data] : [f.data, Buffer.from('!')]),
        }));
        request(id, { op: 'upload-batch', files, overwrite: s.overwrite }, { form: 'json' });
        batches.set(
          id,
          s.files.map((f) => (f.rightDigest ? { bytes: f.data.length, sha256: sha256([f.data]) } : undefined)),
        );
        for (const f of s.files) if (f.data.length > 0) data(id, f.data);
        if (s.end !== 'none') end(id, s.end);
        if (s.waitForResult) actions.push({ waitMs: 1000, stream: id, types: [FrameType.RESPONSE, FrameType.ERROR] });
        if (s.cancel) write(encodeFrame(FrameType.CANCEL, id));
        break;
      }
      case 'download': {
        const id = resolve({ ref: 'next', skip: 0 });
        request(id, { op: 'download', path: s.path }, { form: 'json' });
        if (s.waitForData) actions.push({ waitMs: 300, stream: id, types: [FrameType.DATA, FrameType.ERROR, FrameType.RESPONSE] });
        for (const amount of s.credits) write(encodeCredit(id, amount));
        if (s.cancel) write(encodeFrame(FrameType.CANCEL, id));
        break;
      }
    }
  }
  return { actions, announcedMaxFrameSize, ops, uploaded, unpredictable, batches };
}
