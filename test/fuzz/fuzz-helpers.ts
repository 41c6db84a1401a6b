/**
 * Shared knobs of the fuzz tests (test/fuzz/*.fuzz.test.ts), all from the environment:
 *
 * | variable | meaning |
 * |---|---|
 * | `FUZZ_RUNS` | cases per property (each file has a small CI default) |
 * | `FUZZ_TIME_MS` | stop each property after this long (the runs done so far count as a pass) |
 * | `FUZZ_SEED`, `FUZZ_PATH` | replay a failure: the seed and path fast-check printed |
 * | `FUZZ_NO_SHRINK=1` | report the first failing case as found, without shrinking it |
 * | `FUZZ_REPORT=1` | print one `[fuzz] ...` line per property (scripts/fuzz.mjs collects them) |
 * | `FUZZ_REAL_AUTH=1` | live-server fuzzer: check alice's password with bcrypt, not in plain (slow) |
 *
 * Long mode: `node scripts/fuzz.mjs --runs 100000` or `node scripts/fuzz.mjs --duration 10m`.
 */
import fc from 'fast-check';

function envInt(name: string, { signed = false } = {}): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || (!signed && value < 0)) {
    throw new TypeError(`${name} must be a${signed ? 'n' : ' non-negative'} integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Cases per property: `FUZZ_RUNS`, or the file's CI default. */
export function fuzzRuns(ciDefault: number): number {
  return envInt('FUZZ_RUNS') ?? ciDefault;
}

/** fast-check parameters from the environment. */
export function fuzzParameters<Ts>(ciDefault: number): fc.Parameters<Ts> {
  // fast-check prints 32-bit signed seeds, negative ones included
  const seed = envInt('FUZZ_SEED', { signed: true });
  const timeLimit = envInt('FUZZ_TIME_MS');
  const params: fc.Parameters<Ts> = { numRuns: fuzzRuns(ciDefault), includeErrorInReport: true };
  if (seed !== undefined) params.seed = seed;
  if (process.env.FUZZ_PATH) params.path = process.env.FUZZ_PATH;
  if (timeLimit !== undefined) {
    params.interruptAfterTimeLimit = timeLimit;
    params.markInterruptAsFailure = false;
  }
  if (process.env.FUZZ_NO_SHRINK === '1') params.endOnFailure = true;
  return params;
}

/**
 * Run a property like `fc.assert`, but print a one-line report in long mode (runs done, seed,
 * time) so an interrupted time-boxed run still says how much it covered.
 */
export async function checkProperty<Ts>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  ciDefault: number,
): Promise<void> {
  const started = Date.now();
  const details = await fc.check(property as fc.IRawProperty<Ts>, fuzzParameters<Ts>(ciDefault));
  if (process.env.FUZZ_REPORT === '1') {
    const status = details.failed ? 'FAILED' : details.interrupted ? 'ok (time limit)' : 'ok';
    console.log(
      `[fuzz] ${name}: ${status}, ${details.numRuns} runs, ${details.numSkips} skipped, seed ${details.seed}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  if (details.failed) throw new Error(`${name}: ${fc.defaultReportMessage(details)}`);
}

/** Split `bytes` at the given points (any numbers: taken modulo the length, sorted; repeats give empty chunks). */
export function splitAt(bytes: Buffer, points: readonly number[]): Buffer[] {
  const cuts = points.map((p) => (bytes.length === 0 ? 0 : p % (bytes.length + 1))).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}
