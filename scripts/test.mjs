#!/usr/bin/env node
// `npm test`: runs every test/**/*.test.ts with uvu, installing the dependencies first on a fresh
// clone. `npm test -- core` runs only files whose path (below test/) matches "core"; several
// filters may be given.
//
// The test files run from bundles built at the start (scripts/test-bundles.mjs: one esbuild build,
// about a second), with plain node: tsx's loader cost half a second of CPU in every file's process.
// The example apps' tests start the apps from bundles built once per run (scripts/app-bundles.mjs).
//
// Files run in parallel worker processes (longest first by the durations of the previous run, or on
// a fresh clone by those in scripts/test-times.json), each file's output printed whole when it ends,
// and one uvu-style summary (Total / Passed / Skipped) at the end, which .ci/run parses. A long file
// has a process of its own; shorter ones (under 10 s last time) run several to a process, one after
// another (scripts/test-batch.mjs), unless they add process-wide listeners; a file a batch did not
// finish fails with its output, and the files after it run again on their own. Each file's line
// gives its wall time and the CPU time of its process and of everything it spawned (in a batch: of
// the batch process and the children it reaped while the file ran); the end lists the slowest files
// and the CPU time of the whole run.
//
// Files that mostly wait (last time: at least LIGHT_MIN_MS, under LIGHT_LOAD of a core on average,
// less than LIGHT_MAX_CPU_MS of CPU: timeouts, a stalled peer, the services, a browser's run) also
// have lanes of their own beside the workers: the suite is CPU-bound on two cores, and a worker that waits on such a file
// is CPU work not started while the cores may be idle. They never share a batch with the other
// files, for the same reason: they would hold the batch's files back; they share batches of their
// own (LIGHT_BATCH_MS), which a lane runs as it would run their files one after another.
//
// A test file that must not share the machine with other test files (it mounts a tmpfs, binds a
// fixed address or port, or uses a shared service such as one Ceph cluster) says so with a line
//     // @test-alone: <why>
// in its first 30 lines; such files run one at a time, after the parallel ones, with nothing else
// running.
//
// The files of one run share a scratch folder, FILESHARE_TEST_RUN_DIR (removed at the end), for what
// is worth making once per run rather than once per file (test/tls-certs.ts).
//
// Environment: TEST_JOBS=<n> sets the number of workers (default: two per CPU, at most 4);
// TEST_LIGHT_JOBS=<n> the lanes for the files that mostly wait (default 2; 0: none);
// TEST_BATCH=0 gives every file a process of its own; TEST_FILE_TIMEOUT=<seconds> bounds each file
// (default 600; a batch gets that once); TEST_BUNDLES=0 runs the files and the apps through tsx
// instead of bundles.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative, sep } from 'node:path';
import { BUNDLED_APPS, buildAppBundles, bundlePath } from './app-bundles.mjs';
import { ensureDependencies, root } from './ensure-deps.mjs';
import { buildTestBundles } from './test-bundles.mjs';

ensureDependencies();

const testDir = join(root, 'test');
const filters = process.argv.slice(2).filter((arg) => arg !== '--');
// Two files per core: most files spend much of their time waiting (for servers, child processes,
// timeouts, S3), so one per core leaves the cores idle half the time.
const jobs = positiveInt(process.env.TEST_JOBS) ?? Math.min(4, 2 * (os.availableParallelism?.() ?? os.cpus().length));
const fileTimeoutMs = (positiveInt(process.env.TEST_FILE_TIMEOUT) ?? 600) * 1000;
// files shorter than this in the last run share a process, in batches of about BATCH_MS: most files
// of 5-10 s wait (for servers, timeouts, services) more than they compute, and a process of their
// own (node, the bundle's chunks, the bcrypt threads of the first login) is a few tenths of a second
// of CPU each
const BATCH_FILE_MS = 10000;
const BATCH_MS = 20000;
// a file that took this long or more last time and kept less than LIGHT_LOAD of a core busy on
// average; never one of LIGHT_MAX_CPU_MS of CPU or more, which on a loaded machine (its wall time
// stretched by the wait for a core) can look as idle as the others
const LIGHT_MIN_MS = 3000;
const LIGHT_LOAD = 0.3;
const LIGHT_MAX_CPU_MS = 8000;
// files that mostly wait share a process too, in batches of at most LIGHT_BATCH_MS of the last
// run's time (a longer one keeps a process of its own): a lane runs such files one after another
// anyway, and each process of its own (node, the bundle, the bcrypt threads) was half a second of
// CPU
const LIGHT_BATCH_MS = 30000;
const lightJobs = nonNegativeInt(process.env.TEST_LIGHT_JOBS) ?? 2;
const timesFile = join(root, 'node_modules', '.cache', 'fileshare-test-times.json');
const tsx = import.meta.resolve('tsx');
const color = process.stdout.isTTY && !process.env.NO_COLOR;
// USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Node runs on
const ticksPerSecond = 100;
let lastReapedCpuMs = reapedCpuMs() ?? 0;

const files = findTests(testDir)
  .map((path) => relative(testDir, path).split(sep).join('/'))
  .filter((name) => filters.length === 0 || filters.some((filter) => matches(name, filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test file matches ${filters.map((f) => JSON.stringify(f)).join(', ')}`);
  process.exit(1);
}

const { previous, previousCpu } = readTimes();
const byDuration = (a, b) => (previous[b] ?? 0) - (previous[a] ?? 0) || a.localeCompare(b);
const alone = files.filter((name) => runsAlone(join(testDir, name)));
const parallel = files.filter((name) => !alone.includes(name));
const lightGroups = packed(parallel.filter(lightBatchable), LIGHT_BATCH_MS).map((group) => (group.length === 1 ? group[0] : group));
const inLightGroup = new Set(lightGroups.filter(Array.isArray).flat());
const work = [
  ...packed(parallel.filter(batchable), BATCH_MS),
  ...lightGroups,
  ...parallel.filter((name) => !batchable(name) && !lightBatchable(name)),
].sort((a, b) => duration(b) - duration(a) || String(a).localeCompare(String(b)));

const children = new Set();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    for (const child of children) killGroup(child, signal);
    setTimeout(() => process.exit(1), 5000).unref();
  });
}

const started = Date.now();
const [appsBundled, testBundles] = await Promise.all([prepareBundles(), prepareTestBundles()]);
const bundleEnv = {
  FILESHARE_APP_BUNDLES: appsBundled ? '1' : '0',
  // for test/node-entry.ts: the processes tests start, by source file
  FILESHARE_TEST_PROCESS_BUNDLES: JSON.stringify({
    ...testBundles?.processes,
    ...(appsBundled ? Object.fromEntries(BUNDLED_APPS.map((entry) => [join(root, entry), bundlePath(root, entry)])) : {}),
  }),
};
// a scratch folder the files of this run share (test/tls-certs.ts keeps its certificates there)
const runDir = mkdtempSync(join(os.tmpdir(), 'fileshare-test-run-'));
process.on('exit', () => rmSync(runDir, { recursive: true, force: true }));
const results = [];
await runPool(work, files.length === 1 ? 1 : jobs, files.length > jobs ? lightJobs : 0);
await runPool(alone.sort(byDuration), 1, 0);
report();

/** Build the example apps' bundles, which scripts/run.mjs then starts; whether that worked. */
async function prepareBundles() {
  if (process.env.TEST_BUNDLES === '0') return false;
  try {
    await buildAppBundles(root);
    return true;
  } catch (err) {
    console.error(`could not bundle the example apps (${err.message.split('\n')[0]}): they start through tsx`);
    return false;
  }
}

/** Bundle the test files (scripts/test-bundles.mjs); undefined when they start through tsx. */
async function prepareTestBundles() {
  if (process.env.TEST_BUNDLES === '0') return undefined;
  try {
    const built = await buildTestBundles(root, files);
    process.on('exit', built.remove);
    return built;
  } catch (err) {
    console.error(`could not bundle the test files (${err.message.split('\n')[0]}): they start through tsx`);
    return undefined;
  }
}

/**
 * Short files (under BATCH_FILE_MS in the last run, and not touching process-wide listeners) run
 * several to a process (scripts/test-batch.mjs), in batches of about BATCH_MS: a process of its own
 * cost such a file about half a second of CPU, as much as its tests.
 */
function batchable(name) {
  if (process.env.TEST_BATCH === '0' || files.length <= jobs) return false;
  if ((previous[name] ?? Infinity) > BATCH_FILE_MS || light(name)) return false;
  return !addsProcessListeners(name);
}

/** Whether a file that mostly waits may share a process with others of its kind (see LIGHT_BATCH_MS). */
function lightBatchable(name) {
  if (process.env.TEST_BATCH === '0' || files.length <= jobs) return false;
  return light(name) && !addsProcessListeners(name);
}

function addsProcessListeners(name) {
  return /\bprocess\.(on|once|addListener|prependListener)\(/.test(readFileSync(join(testDir, name), 'utf8'));
}

/**
 * The files `names` in as few groups (arrays) of at most `limit` ms of the last run's time each as
 * first fit by decreasing time gives; a file longer than `limit` is a group of its own.
 */
function packed(names, limit) {
  const groups = [];
  for (const name of names.sort(byDuration)) {
    const ms = previous[name] ?? 0;
    const fit = groups.find((group) => group.ms + ms <= limit);
    if (fit) {
      fit.names.push(name);
      fit.ms += ms;
    } else groups.push({ names: [name], ms });
  }
  return groups.map((group) => group.names);
}

/** Whether a file mostly waited last time (see LIGHT_LOAD): it may also run in a light lane. */
function light(item) {
  if (Array.isArray(item)) return item.every((name) => inLightGroup.has(name));
  const ms = previous[item];
  const cpuMs = previousCpu[item];
  return ms !== undefined && cpuMs !== undefined && ms >= LIGHT_MIN_MS && cpuMs <= LIGHT_LOAD * ms && cpuMs < LIGHT_MAX_CPU_MS;
}

/** The last run's wall time of a file, or of a batch (an array of files). */
function duration(item) {
  return Array.isArray(item) ? item.reduce((sum, name) => sum + (previous[name] ?? 0), 0) : (previous[item] ?? 0);
}

/**
 * Run the files or batches `items`, in their order, with at most `width` workers taking the next
 * item and `lightWidth` lanes taking the next file that mostly waits (see `light`).
 */
async function runPool(items, width, lightWidth) {
  const queue = [...items];
  const take = (lightOnly) => {
    const index = lightOnly ? queue.findIndex(light) : 0;
    return index < 0 ? undefined : queue.splice(index, 1)[0];
  };
  const worker = async (lightOnly) => {
    for (let item = take(lightOnly); item !== undefined && !interrupted; item = take(lightOnly)) {
      if (Array.isArray(item)) results.push(...(await runBatch(item)));
      else results.push(await runFile(item));
    }
  };
  await Promise.all([
    ...Array.from({ length: Math.min(width, queue.length) }, () => worker(false)),
    ...Array.from({ length: lightWidth }, () => worker(true)),
  ]);
}

/** How node starts test files: their bundles with source maps, or their sources through tsx. */
function nodeFlags() {
  return testBundles ? ['--enable-source-maps'] : ['--import', tsx];
}

function testPath(name) {
  return testBundles ? testBundles.forTest(name) : join(testDir, name);
}

/** Run one test file in its own process; resolves to its counts, output and duration. */
async function runFile(name) {
  const run = await runProcess([...nodeFlags(), testPath(name)]);
  const result = fileResult(name, run.ms, run.cpuMs, run.output, run);
  print(result);
  return result;
}

/**
 * Run the files `names` one after another in one process (scripts/test-batch.mjs) and cut its
 * output back into one result per file. A file the batch did not finish is a failure with the
 * output it printed; the files after it are run again, each in a process of its own.
 */
async function runBatch(names) {
  const run = await runProcess([...nodeFlags(), join(root, 'scripts', 'test-batch.mjs'), ...names.map(testPath)]);
  const outputs = new Map();
  const ends = new Map();
  let current;
  for (const line of run.output.split(/(?<=\n)/)) {
    const mark = /^\x1e(begin|end) (\{.*\})\n?$/.exec(line);
    if (!mark) {
      if (current !== undefined) outputs.set(current, (outputs.get(current) ?? '') + line);
      continue;
    }
    const data = JSON.parse(mark[2]);
    if (mark[1] === 'begin') current = data.index;
    else {
      ends.set(data.index, data);
      current = undefined;
    }
  }
  const done = [];
  const rerun = [];
  for (const [index, name] of names.entries()) {
    const end = ends.get(index);
    if (end) {
      const result = fileResult(name, end.ms, end.cpuMs, outputs.get(index) ?? '', { code: end.ok ? 0 : 1, signal: null, timedOut: false });
      print(result);
      done.push(result);
    } else if (outputs.has(index)) {
      const result = fileResult(name, run.ms, run.cpuMs, outputs.get(index), { ...run, code: run.code || 1 });
      if (!result.note) result.note = `the batch process ended (${run.signal ?? `exit code ${run.code}`}) in this file`;
      result.ok = false;
      print(result);
      done.push(result);
    } else rerun.push(name);
  }
  for (const name of rerun) if (!interrupted) done.push(await runFile(name));
  return done;
}

/** A file's result from its output and how its process (or its part of a batch) ended. */
function fileResult(name, ms, cpuMs, output, { code, signal, timedOut }) {
  const counts = parseSummary(output);
  let { total, passed, skipped } = counts ?? { total: 0, passed: 0, skipped: 0 };
  let note = '';
  if (timedOut) note = `timed out after ${fileTimeoutMs / 1000} s`;
  else if (!counts) note = `ended (${signal ?? `exit code ${code}`}) without a summary`;
  else if (code !== 0 && total === passed + skipped) note = `exited with ${signal ?? `code ${code}`} after its tests passed`;
  // a file that crashed, hung or failed outside a test counts as one failed test
  if (note) total += 1;
  return { name, ms, cpuMs, output, total, passed, skipped, note, ok: !note && total === passed + skipped };
}

/** Run node with `command` as a test process; resolves to its output, exit, wall and CPU time. */
function runProcess(command) {
  const begin = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, command, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // its own process group, so that a timeout or Ctrl-C also reaches what the file spawned
      detached: true,
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: join(root, 'tsconfig.json'),
        ...bundleEnv,
        FILESHARE_TEST_RUN_DIR: runDir,
        ...(color ? { FORCE_COLOR: '1' } : {}),
      },
    });
    children.add(child);
    let cpuMs;
    // the reaped children's CPU time grows when this child is reaped, by its time and that of
    // every descendant it waited for (the apps a test started, the apps' own children)
    child.on('exit', () => (cpuMs = reapedCpuDelta()));
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s) => (output += s));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ ms: Date.now() - begin, cpuMs, output, code, signal, timedOut });
    });
  });
}

function print({ name, ms, cpuMs, output, note, ok }) {
  const status = ok ? paint('32', 'ok') : paint('31', 'FAIL');
  const body = ok ? summaryless(output) : output;
  process.stdout.write(`${status} ${name} (${timing(ms, cpuMs)})${note ? ` — ${note}` : ''}\n${indent(body)}`);
}

/** "12.3 s, 8.1 s CPU": wall time, and the CPU time of the file's process and what it spawned. */
function timing(ms, cpuMs) {
  return `${seconds(ms)}${cpuMs === undefined ? '' : `, ${seconds(cpuMs)} CPU`}`;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The slowest files, so that a file that grew slow is seen without reading the whole log. */
function slowest(count) {
  const top = [...results].sort((a, b) => b.ms - a.ms).slice(0, count);
  const width = Math.max(...top.map((r) => r.name.length));
  return top.map((r) => `    ${r.name.padEnd(width)}  ${timing(r.ms, r.cpuMs)}${alone.includes(r.name) ? ' (alone)' : ''}`).join('\n');
}

function report() {
  const total = sum('total');
  const passed = sum('passed');
  const skipped = sum('skipped');
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    process.stdout.write(
      `\n${paint('31', 'Failed files:')}\n${failed.map((r) => `  ${r.name}${r.note ? ` — ${r.note}` : ''}`).join('\n')}\n`,
    );
  }
  if (interrupted) process.stdout.write('\ninterrupted: files not run are not counted\n');
  if (results.length > 1) process.stdout.write(`\n  Slowest files (wall time, CPU time):\n${slowest(10)}\n`);
  const cpu = cpuTotalMs();
  process.stdout.write(
    `\n  Files:     ${results.length} (${jobs} in parallel${lightJobs > 0 ? ` and ${lightJobs} lanes for files that wait` : ''}, ${alone.length} alone)` +
      `\n  Total:     ${total}` +
      `\n  Passed:    ${passed}` +
      `\n  Skipped:   ${skipped}` +
      `\n  Duration:  ${seconds(Date.now() - started)}${cpu === undefined ? '' : ` (${seconds(cpu)} CPU)`}\n\n`,
  );
  if (!interrupted && filters.length === 0) writeTimes();
  process.exitCode = failed.length > 0 || interrupted || passed + skipped !== total ? 1 : 0;
}

function sum(key) {
  return results.reduce((n, r) => n + r[key], 0);
}

/** The Total / Passed / Skipped lines uvu prints at the end of a file, or undefined. */
function parseSummary(output) {
  const clean = output.replace(/\x1b\[[0-9;]*m/g, '');
  const count = (label) => {
    const match = clean.match(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm'));
    return match ? Number(match[1]) : undefined;
  };
  const total = count('Total');
  const passed = count('Passed');
  if (total === undefined || passed === undefined) return undefined;
  return { total, passed, skipped: count('Skipped') ?? 0 };
}

/** A passing file's output without uvu's own summary block (the aggregated one replaces it). */
function summaryless(output) {
  return output.replace(/\n?\s*Total:[\s\S]*?Duration:[^\n]*\n*$/, '\n');
}

function indent(text) {
  const trimmed = text.replace(/^\n+|\s+$/g, '');
  return trimmed ? `${trimmed.replace(/^/gm, '  ')}\n` : '';
}

function paint(code, text) {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(path));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

/** As before the parallel runner: the filter, then anything, then `.test.ts` at the end. */
function matches(name, filter) {
  const escaped = filter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escaped}.*\\.test\\.ts$`).test(name);
}

function runsAlone(path) {
  const head = readFileSync(path, 'utf8').split('\n', 30).join('\n');
  return /^\s*\/\/\s*@test-alone\b/m.test(head);
}

/**
 * The wall and CPU times (ms) by file of the last run here, else the checked-in ones of a reference
 * run. A file's entry is `{ "ms": wall, "cpuMs": CPU }`, or the wall time alone (older files).
 */
function readTimes() {
  for (const file of [timesFile, join(root, 'scripts', 'test-times.json')]) {
    let parsed;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    const times = { previous: {}, previousCpu: {} };
    for (const [name, entry] of Object.entries(parsed)) {
      const { ms, cpuMs } = typeof entry === 'number' ? { ms: entry } : (entry ?? {});
      if (Number.isFinite(ms)) times.previous[name] = ms;
      if (Number.isFinite(cpuMs)) times.previousCpu[name] = cpuMs;
    }
    return times;
  }
  return { previous: {}, previousCpu: {} };
}

function writeTimes() {
  const times = {};
  for (const name of Object.keys(previous)) times[name] = { ms: previous[name], cpuMs: previousCpu[name] };
  for (const r of results) times[r.name] = { ms: r.ms, cpuMs: r.cpuMs };
  // one line a file, by name, as scripts/test-times.json is kept (a copy of this file)
  const entry = ({ ms, cpuMs }) => `{ "ms": ${ms}${cpuMs === undefined ? '' : `, "cpuMs": ${cpuMs}`} }`;
  const lines = Object.keys(times)
    .sort()
    .map((name) => `  ${JSON.stringify(name)}: ${entry(times[name])}`);
  try {
    mkdirSync(join(timesFile, '..'), { recursive: true });
    writeFileSync(timesFile, `{\n${lines.join(',\n')}\n}\n`);
  } catch {
    // only an ordering hint for the next run
  }
}

/**
 * CPU time (user + system, ms) of the children reaped since the last call, from /proc (Linux
 * only; undefined elsewhere). A file's process is reaped on its 'exit' event, so the increment
 * there is its own; two files ending in the same instant may share one figure.
 */
function reapedCpuDelta() {
  const now = reapedCpuMs();
  if (now === undefined) return undefined;
  const delta = now - lastReapedCpuMs;
  lastReapedCpuMs = now;
  return delta;
}

/** cutime + cstime of this process, in ms. */
function reapedCpuMs() {
  try {
    // the fields after the command name, which is in parentheses and may hold spaces
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    // fields 16 and 17 of stat(5), counted from 1 with the pid and the name as 1 and 2
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/** The CPU time of the whole run: this process (with the bundle build) and every file's. */
function cpuTotalMs() {
  const reaped = reapedCpuMs();
  if (reaped === undefined) return undefined;
  const own = process.cpuUsage();
  return reaped + (own.user + own.system) / 1000;
}

function positiveInt(value) {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function nonNegativeInt(value) {
  const n = value === undefined || value === '' ? NaN : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}
