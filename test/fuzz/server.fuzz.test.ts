/**
 * Fuzzing a LIVE server (createTestServer, user alice with password pw) with fast-check: each case
 * opens a fresh raw socket, sends a valid HELLO (usually) and a login (often), then a sequence of
 * mostly hostile frames (wire-cases.ts), cut into random chunks with small pauses, reads whatever
 * comes back and hangs up (raw-session.ts checks every answer).
 *
 * Asserted for every case: no uncaught exception or unhandled rejection in the process; no `error`
 * event from the server (it reports internal failures there); the session gone once the socket is
 * (connectionCount back to 0 within 3 s); server output that decodes into frames a server may
 * send; ERROR codes from the documented list, never `EIO`; at most one final frame per request; a
 * connection error followed by the close; `{ bytes, sha256 }` answers that match the bytes that
 * crossed the wire. Every 25 cases and at the end: no `.fileshare-part-*` temp file left, and a
 * healthy FileShareClient logs in, uploads and downloads a file and gets the same SHA-256 (then
 * the folder is reset to its seed files). After the run: connectionCount 0, open file descriptors
 * back near the start (+10), heap grown by less than 50 MB.
 *
 * CI runs 150 cases (`FUZZ_RUNS`; a few seconds). Long mode: `node scripts/fuzz.mjs --runs 100000`
 * (or `--duration 30m`); replay a failure with `FUZZ_SEED=<seed> FUZZ_PATH=<path> node --import tsx
 * node_modules/uvu/bin.js test/fuzz server`. See fuzz-helpers.ts for every knob.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AuthProvider, FileShareClient } from '../../src/index.ts';
import { createTestServer, type TestServer } from '../../src/testing/index.ts';
import { checkProperty, fuzzRuns } from './fuzz-helpers.ts';
import { runCase } from './raw-session.ts';
import { PASSWORD, SEED_FILES, USERNAME, buildCase, wireCase } from './wire-cases.ts';

const CI_CASES = 150;
const HEALTH_EVERY = 25;
const FD_TOLERANCE = 10;
const HEAP_TOLERANCE = 50 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Process-wide trackers: anything escaping the server fails the run

const crashes: string[] = [];
const onUncaught = (err: unknown) => crashes.push(`uncaughtException: ${describe(err)}`);
const onRejection = (reason: unknown) => crashes.push(`unhandledRejection: ${describe(reason)}`);
const serverErrors: string[] = [];
/** Frames over the client's announced maxFrameSize seen while fuzzing (asserted by their own test below). */
const oversized: string[] = [];

function describe(err: unknown): string {
  return err instanceof Error ? `${err.stack ?? err.message}${err.cause ? `\n  cause: ${describe(err.cause)}` : ''}` : String(err);
}

/**
 * The users of createTestServer are bcrypt-hashed, and one bcrypt check takes about 250 ms on a
 * small CI machine, in a single process-wide lane: the fuzzer would spend most of its time hashing.
 * The cases exercise frame handling, not password hashing (the providers have their own tests), so
 * by default alice's password is compared in plain; `FUZZ_REAL_AUTH=1` uses the bcrypt provider.
 */
const plainAuth: AuthProvider = {
  async authenticate(username, password) {
    return username === USERNAME && password === PASSWORD ? { username } : null;
  },
};

let t: TestServer;

test.before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  // No login throttle: fuzzed wrong passwords for alice would lock the healthy client out (the
  // throttle has its own tests). Everything else keeps its default.
  t = await createTestServer({
    users: { [USERNAME]: PASSWORD },
    server: { loginThrottle: false },
    ...(process.env.FUZZ_REAL_AUTH === '1' ? {} : { auth: plainAuth }),
  });
  t.server.on('error', (err) => serverErrors.push(describe(err)));
  await resetRoot();
});

test.after(async () => {
  await t?.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onRejection);
});

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.unreachable(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** `global.gc` without --expose-gc (the flag can be set at run time; the function is then reachable from a fresh context). */
const gc: (() => void) | undefined = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

function openFds(): number | undefined {
  return existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : undefined;
}

async function tempFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.name.startsWith('.fileshare-part-')) found.push(path.join(entry.parentPath ?? entry.path, entry.name));
  }
  return found;
}

/** Empty the served folder and put the seed files back (cases delete and rename them). Only between cases. */
async function resetRoot(): Promise<void> {
  for (const name of await fsp.readdir(t.root)) await fsp.rm(path.join(t.root, name), { recursive: true, force: true });
  for (const [name, size] of Object.entries(SEED_FILES)) {
    await fsp.mkdir(path.dirname(path.join(t.root, name)), { recursive: true });
    await fsp.writeFile(path.join(t.root, name), randomBytes(size));
  }
}

let healthChecks = 0;

/** A healthy client still gets served: login, upload, download, same SHA-256. */
async function assertHealthy(): Promise<void> {
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the fuzzed connections to close');
  // a plain client, not t.connect(): the test server keeps those until close, a long run would pile them up
  const client = new FileShareClient({ host: '127.0.0.1', port: t.port });
  try {
    await within(client.connect(), 5000, 'connect');
    await within(client.login(USERNAME, PASSWORD), 5000, 'login');
    const data = randomBytes(1 + ((healthChecks * 7919) % (64 * 1024)));
    const remote = `/healthy-${healthChecks++}.bin`;
    const expected = createHash('sha256').update(data).digest('hex');
    const up = await within(client.upload(Readable.from([data]), remote, { overwrite: true }), 5000, 'upload');
    const parts: Buffer[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, callback) => (parts.push(chunk), callback()) });
    const down = await within(client.download(remote, sink), 5000, 'download');
    assert.is(up.sha256, expected, 'upload SHA-256');
    assert.is(down.sha256, expected, 'download SHA-256');
    assert.is(createHash('sha256').update(Buffer.concat(parts)).digest('hex'), expected, 'downloaded bytes');
    await within(client.ping(), 5000, 'ping');
    await within(client.delete(remote), 5000, 'delete'); // a long run would otherwise fill the disk
  } finally {
    await client.close();
  }
}

/** Anything that escaped since `mark`: exceptions first, then the server's 'error' events. */
function assertNothingEscaped(mark = { crashes: 0, errors: 0 }): void {
  const newCrashes = crashes.slice(mark.crashes);
  const newErrors = serverErrors.slice(mark.errors);
  assert.equal(newCrashes, [], `the process saw exceptions escape:\n${newCrashes.join('\n')}`);
  assert.equal(newErrors, [], `the server reported internal failures ('error' events):\n${newErrors.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Tests

test('live server: hostile frame sequences never crash it, never leak, and it keeps serving', async () => {
  await assertHealthy();
  const fdsBefore = openFds();
  const heapBefore = await settledHeap();
  let cases = 0;
  const started = Date.now();

  await checkProperty(
    'server/frames',
    fc.asyncProperty(wireCase, async (c) => {
      // what escapes during a case is blamed on it (and only on it: shrinking replays cases)
      const mark = { crashes: crashes.length, errors: serverErrors.length };
      const built = buildCase(c);
      const result = await within(runCase(t.port, built, c, { quietMs: 25, caseTimeoutMs: 6000 }), 12_000, 'a fuzz case');
      if (oversized.length < 10) oversized.push(...result.oversized.slice(0, 10 - oversized.length));
      // the session ends with the socket: one that stays is a leak (and would mix up the blame)
      // (bounded generously: a loaded machine can take seconds to run the close)
      await waitFor(() => t.server.connectionCount === 0, 10_000, "the case's session to close");
      assert.equal(result.violations, [], `the server broke the protocol:\n${result.violations.join('\n')}`);
      assertNothingEscaped(mark);
      if (++cases % HEALTH_EVERY === 0) {
        await assertHealthy();
        assert.equal(await tempFiles(t.root), [], 'no upload temp file is left once the connections are gone');
        await resetRoot(); // keeps a long run's folder small, and the seed files in place
      }
    }),
    CI_CASES,
  );

  await assertHealthy();
  await waitFor(() => t.server.connectionCount === 0, 5000, 'connectionCount to return to 0');
  assert.equal(await tempFiles(t.root), [], 'no upload temp file is left behind');
  assertNothingEscaped();
  const fdsAfter = openFds();
  if (fdsBefore !== undefined && fdsAfter !== undefined) {
    assert.ok(fdsAfter <= fdsBefore + FD_TOLERANCE, `open file descriptors grew from ${fdsBefore} to ${fdsAfter}`);
  }
  const heapAfter = await settledHeap();
  assert.ok(heapAfter - heapBefore < HEAP_TOLERANCE, `heap grew by ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB over ${cases} cases`);
  if (process.env.FUZZ_REPORT === '1') {
    console.log(
      `[fuzz] server/resources: ${cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, fds ${fdsBefore} -> ${fdsAfter}, heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB${gc ? '' : ' (no gc)'}`,
    );
  }
  assert.ok(cases >= Math.min(fuzzRuns(CI_CASES), 1), 'cases ran');
});

test('while fuzzing, the server never sent a frame longer than the maxFrameSize the client announced (docs/protocol.md §2)', () => {
  // Checked apart from the cases above so that this known bug (findings.test.ts has the
  // reproducer: an ERROR message quoting a long path ignores the peer's limit) does not stop the
  // fuzzer from checking everything else. It needs a fuzzed HELLO with a small maxFrameSize and a
  // long answer, so most runs see nothing here.
  assert.equal(oversized, [], `the server sent frames over the client's maxFrameSize:\n${oversized.join('\n')}`);
});

test.run();
