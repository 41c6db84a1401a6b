/**
 * `npm run bench [-- options]`: run the benchmark workloads against every selected system, print a
 * table and write the JSON. Everything runs on 127.0.0.1, servers and clients in separate processes,
 * all systems within one run so that their ratios hold on a noisy machine.
 *
 *   --quick          small sizes, one run: the whole suite in under a minute (CI)
 *   --size 1G        big-file size for throughput and ping under load (default 1 GiB)
 *   --memory-size 2G file size for the memory workload (default 2 GiB)
 *   --s3-size 256M   file size for the s3 workload (default 256 MiB; needs FILESHARE_TEST_S3_*)
 *   --runs N         runs per figure: median [min–max] (default 3)
 *   --pings N        pings per series (default 2000)
 *   --files N        small files (default 1000)
 *   --clients N      concurrent clients (default 200; also the small login storm)
 *   --logins N       concurrent logins of the big login storm (default 1000)
 *   --json PATH      where to write the JSON (default bench/results/latest.json)
 *   --only a,b       systems (pipe, pipe-tls, pipe-sha, pipe-sha-tls, raw, raw-tls, sftp, ftp, fileshare, fileshare-tls, s3-fileshare,
 *                    s3-sdk; a family name selects its variants) and/or workloads (throughput, ping,
 *                    small, tree, concurrency, logins, reconnect, memory, s3)
 *   --verbose        forward the workers' stderr
 *   --tsx            run workers under tsx instead of transpiling them (RSS then includes the loader)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeSelfSignedCert } from './certs.ts';
import type { CertFiles } from './certs.ts';
import { FIXED, FULL, QUICK, formatSize, parseSize } from './config.ts';
import type { BenchConfig } from './config.ts';
import { makeRandomFile, makeTempDir, removeTempDir } from './files.ts';
import type { TestFile } from './files.ts';
import { pickPassiveRange } from './ports.ts';
import { Scope, prepareWorkers } from './proc.ts';
import { Recorder } from './results.ts';
import { SYSTEMS, matchesSystem } from './systems.ts';
import { renderErrors, renderTable, renderTargets, writeJson } from './table.ts';
import { repoRoot } from './build.ts';
import type { BenchContext, Workload } from './workloads/context.ts';
import { throughput } from './workloads/throughput.ts';
import { ping } from './workloads/ping.ts';
import { small } from './workloads/small.ts';
import { tree } from './workloads/tree.ts';
import { concurrency } from './workloads/concurrency.ts';
import { memory } from './workloads/memory.ts';
import { logins } from './workloads/logins.ts';
import { reconnect } from './workloads/reconnect.ts';
import { s3 } from './workloads/s3.ts';

const WORKLOADS: readonly Workload[] = [throughput, ping, small, tree, concurrency, logins, reconnect, memory, s3];

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`--${name}: expected a positive integer, got "${text}"`);
  return n;
}

function parseConfig(argv: string[]): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      size: { type: 'string' },
      'memory-size': { type: 'string' },
      's3-size': { type: 'string' },
      runs: { type: 'string' },
      pings: { type: 'string' },
      files: { type: 'string' },
      clients: { type: 'string' },
      logins: { type: 'string' },
      json: { type: 'string' },
      only: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      tsx: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    const source = readFileSync(new URL(import.meta.url), 'utf8');
    process.stdout.write((/\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? '').replace(/^ \* ?/gm, '') + '\n');
    process.exit(0);
  }
  const preset = values.quick ? QUICK : FULL;
  return {
    quick: values.quick,
    size: values.size !== undefined ? parseSize(values.size) : preset.size,
    memorySize: values['memory-size'] !== undefined ? parseSize(values['memory-size']) : preset.memorySize,
    s3Size: values['s3-size'] !== undefined ? parseSize(values['s3-size']) : preset.s3Size,
    runs: positiveInt('runs', values.runs, preset.runs),
    pings: positiveInt('pings', values.pings, preset.pings),
    smallFiles: positiveInt('files', values.files, preset.smallFiles),
    clients: positiveInt('clients', values.clients, preset.clients),
    loginStorm: positiveInt('logins', values.logins, preset.loginStorm),
    loadSeconds: preset.loadSeconds,
    ...FIXED,
    jsonPath: path.resolve(values.json ?? path.join(repoRoot, 'bench', 'results', 'latest.json')),
    only: (values.only ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    verbose: values.verbose,
    tsx: values.tsx,
  };
}

function selection(config: BenchConfig): { systems: typeof SYSTEMS; workloads: readonly Workload[] } {
  const systemTokens = config.only.filter((t) => SYSTEMS.some((s) => matchesSystem(t, s)));
  const workloadTokens = config.only.filter((t) => WORKLOADS.some((w) => w.id === t));
  const unknown = config.only.filter((t) => !systemTokens.includes(t) && !workloadTokens.includes(t));
  if (unknown.length > 0) {
    const known = [...SYSTEMS.map((s) => s.id), ...WORKLOADS.map((w) => w.id)].join(', ');
    throw new TypeError(`--only: unknown ${unknown.map((u) => `"${u}"`).join(', ')} (known: ${known})`);
  }
  return {
    systems: systemTokens.length
      ? SYSTEMS.filter((s) => systemTokens.some((t) => matchesSystem(t, s)))
      : SYSTEMS.filter((s) => !(config.quick && s.notQuick)),
    workloads: workloadTokens.length ? WORKLOADS.filter((w) => workloadTokens.includes(w.id)) : WORKLOADS,
  };
}

function version(pkg: string): string {
  try {
    const file = pkg === '.' ? path.join(repoRoot, 'package.json') : path.join(repoRoot, 'node_modules', pkg, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function describeRun(config: BenchConfig, systems: readonly string[], workloads: readonly string[]): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus[0]?.model ?? 'unknown',
      cpus: cpus.length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
    },
    versions: {
      node: process.version,
      fileshare: version('.'),
      commit: gitCommit(),
      'ftp-srv': version('ftp-srv'),
      'basic-ftp': version('basic-ftp'),
    },
    workers: config.tsx ? 'tsx loader' : 'transpiled to plain JS',
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    config: { ...config, jsonPath: path.relative(repoRoot, config.jsonPath) },
    systems,
    workloads,
  };
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const { systems, workloads } = selection(config);
  const started = performance.now();
  const log = (line: string): void => {
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
  const meta = describeRun(
    config,
    systems.map((s) => s.id),
    workloads.map((w) => w.id),
  );
  log(
    `${config.quick ? 'quick' : 'full'} run: ${formatSize(config.size)} big file, ${config.runs} run(s), ` +
      `systems ${systems.map((s) => s.id).join(', ')}; workloads ${workloads.map((w) => w.id).join(', ')}`,
  );

  const recorder = new Recorder();
  const scopes = new Set<Scope>();
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const scope of scopes) scope.killAll(signal);
    process.exit(130); // the 'exit' hook in files.ts removes the temporary folders
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  await prepareWorkers([...new Set(systems.map((s) => s.worker))], { tsx: config.tsx });
  const shared = await makeTempDir('shared');
  try {
    const certs: CertFiles | undefined = systems.some((s) => s.tls) ? await makeSelfSignedCert(shared) : undefined;
    const pasvRange = await pickPassiveRange(Math.max(2000, config.clients * 4));
    let big: Promise<TestFile> | undefined;
    const bigFile = (): Promise<TestFile> => {
      if (big === undefined) {
        log(`writing a ${formatSize(config.size)} random test file`);
        big = makeRandomFile(path.join(shared, 'big.bin'), config.size);
      }
      return big;
    };

    for (const workload of workloads) {
      const eligible = systems.filter((s) => s.workloads.includes(workload.id));
      if (eligible.length === 0) continue;
      const tmp = await makeTempDir(workload.id);
      await mkdir(path.join(tmp, 'client'));
      const scope = new Scope();
      scopes.add(scope);
      const ctx: BenchContext = { config, recorder, scope, tmp, certs, pasvRange, bigFile, log };
      const budget = workload.budgetMs(config, eligible.length);
      const workloadStart = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          workload.run(ctx, eligible),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(budget / 1000)} s`)), budget);
          }),
        ]);
      } catch (error) {
        recorder.error(workload.id, '*', error);
      } finally {
        clearTimeout(timer);
        const killed = scope.killAll(`workload ${workload.id} ended`);
        if (killed > 0) log(`${workload.id}: killed ${killed} worker(s) still running`);
        log(`${workload.id} took ${((performance.now() - workloadStart) / 1000).toFixed(1)} s`);
        scopes.delete(scope);
        await removeTempDir(tmp);
      }
    }
  } finally {
    await removeTempDir(shared);
  }

  const elapsed = (performance.now() - started) / 1000;
  const m = meta.machine as Record<string, unknown>;
  const v = meta.versions as Record<string, unknown>;
  process.stdout.write(
    `\nfileshare benchmark, ${String(meta.date)}, ${elapsed.toFixed(0)} s\n` +
      `machine: ${String(m.cpu)} x${String(m.cpus)}, ${String(m.memoryGiB)} GiB, ${String(m.os)}\n` +
      `versions: node ${String(v.node)}, fileshare ${String(v.fileshare)} (${String(v.commit)}), ` +
      `ftp-srv ${String(v['ftp-srv'])}, basic-ftp ${String(v['basic-ftp'])}\n` +
      `config: ${config.quick ? 'quick' : 'full'}, big file ${formatSize(config.size)}, memory file ` +
      `${formatSize(config.memorySize)}, s3 file ${formatSize(config.s3Size)}, ${config.runs} run(s), ${config.pings} pings, ${config.smallFiles} ` +
      `small files, ${config.clients} clients; MB = 10^6 bytes, MiB = 2^20\n\n` +
      renderTable(recorder) +
      '\n\n' +
      renderTargets(recorder) +
      '\n\n' +
      renderErrors(recorder) +
      '\n',
  );
  await writeJson(config.jsonPath, recorder, { ...meta, seconds: Math.round(elapsed) });
  log(`wrote ${path.relative(process.cwd(), config.jsonPath) || config.jsonPath}`);
  process.exitCode = recorder.errors.length > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
