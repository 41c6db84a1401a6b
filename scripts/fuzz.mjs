#!/usr/bin/env node
// Long mode of the fuzz tests (test/fuzz/*.fuzz.test.ts): the frame decoder and a live server.
// CI runs them with a few hundred cases as part of `npm test`; this runs many more.
//
//   node scripts/fuzz.mjs                     100000 cases per property
//   node scripts/fuzz.mjs --runs 20000        20000 cases per property
//   node scripts/fuzz.mjs --duration 10m      each property fuzzes for up to 10 minutes (s, m, h)
//   node scripts/fuzz.mjs --only server       only files whose name contains "server" (or "decoder")
//   node scripts/fuzz.mjs --seed 42 --path "3:1:0"   replay what a failure printed
//   node scripts/fuzz.mjs --no-shrink         report the first failing case as found
//   node scripts/fuzz.mjs --real-auth         live server: check passwords with bcrypt (slow)
//
// Passes FUZZ_RUNS, FUZZ_TIME_MS, FUZZ_SEED, FUZZ_PATH, FUZZ_NO_SHRINK, FUZZ_REAL_AUTH and
// FUZZ_REPORT=1 to `node --import tsx node_modules/uvu/bin.js test/fuzz <pattern>` (see
// test/fuzz/fuzz-helpers.ts), shows its output, and ends with a summary of every property.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ensureDependencies, root } from './ensure-deps.mjs';

const USAGE =
  'usage: node scripts/fuzz.mjs [--runs N] [--duration 30s|10m|2h] [--only NAME] [--seed N] [--path P] [--no-shrink] [--real-auth]';

function parseDuration(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text ?? '');
  if (!match) throw new TypeError(`--duration: expected a number with an optional unit (ms, s, m, h), got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'];
  return Math.round(Number(match[1]) * unit);
}

function parseArgs(argv) {
  const options = { runs: undefined, timeMs: undefined, only: undefined, seed: undefined, path: undefined, shrink: true, realAuth: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new TypeError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--runs') {
      const v = value();
      options.runs = Number(v);
      if (!Number.isSafeInteger(options.runs) || options.runs < 1)
        throw new TypeError(`--runs: expected a positive integer, got ${JSON.stringify(v)}`);
    } else if (arg === '--duration') options.timeMs = parseDuration(value());
    else if (arg === '--only') options.only = value();
    else if (arg === '--seed') options.seed = value();
    else if (arg === '--path') options.path = value();
    else if (arg === '--no-shrink') options.shrink = false;
    else if (arg === '--real-auth') options.realAuth = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new TypeError(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  // a duration alone means: as many runs as fit
  options.runs ??= options.timeMs === undefined ? 100_000 : 1_000_000_000;
  return options;
}

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}

ensureDependencies();
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pattern = options.only ? `${escape(options.only)}.*\\.fuzz\\.test\\.ts$` : '\\.fuzz\\.test\\.ts$';
const env = {
  ...process.env,
  TSX_TSCONFIG_PATH: join(root, 'tsconfig.json'),
  FUZZ_RUNS: String(options.runs),
  FUZZ_REPORT: '1',
};
if (options.timeMs !== undefined) env.FUZZ_TIME_MS = String(options.timeMs);
if (options.seed !== undefined) env.FUZZ_SEED = options.seed;
if (options.path !== undefined) env.FUZZ_PATH = options.path;
if (!options.shrink) env.FUZZ_NO_SHRINK = '1';
if (options.realAuth) env.FUZZ_REAL_AUTH = '1';

const limits = [`${options.runs} runs`, options.timeMs !== undefined ? `at most ${options.timeMs / 1000} s` : undefined]
  .filter(Boolean)
  .join(', ');
console.log(
  `fuzzing test/fuzz/*${options.only ? `${options.only}*` : ''}.fuzz.test.ts: ${limits} per property${options.seed ? `, seed ${options.seed}` : ''}\n`,
);

const started = Date.now();
const reports = [];
const failures = [];
let pending = '';
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, join(root, 'node_modules', 'uvu', 'bin.js'), 'test/fuzz', pattern], {
  cwd: root,
  env,
  stdio: ['inherit', 'pipe', 'inherit'],
});
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  pending += chunk.toString('utf8');
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    // eslint-disable-next-line no-control-regex
    const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
    const report = /\[fuzz\] .*/.exec(plain);
    if (report) reports.push(report[0]);
    if (/^\s*FAIL\s/.test(plain)) failures.push(plain.trim());
    if (/\{ seed: -?\d+, path: "[^"]*"/.test(plain) && !failures.includes(plain.trim())) failures.push(plain.trim());
  }
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.log(`\n=== fuzz summary (${minutes} min) ===`);
  for (const line of reports) console.log(`  ${line}`);
  if (reports.length === 0) console.log('  (no property reported: see the output above)');
  const status = code ?? (signal ? 1 : 0);
  if (status === 0) {
    console.log('  all properties held');
  } else {
    console.log(`  FAILED (exit ${signal ?? code})`);
    for (const line of [...new Set(failures)]) console.log(`  ${line}`);
    console.log('  replay: node scripts/fuzz.mjs --only <file> --seed <seed> --path "<path>"  (values from the failure above)');
  }
  process.exit(status);
});
