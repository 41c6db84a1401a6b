/**
 * How much of a small file's cost is V8's warm-up: a fresh server process and a fresh client
 * process (over 127.0.0.1, as the bench's workers: plain JavaScript, no tsx loader) move the same
 * 4 KiB files one at a time, pass after pass, in the same two processes, and each pass reports its
 * files/s and the CPU per file of each side (user + system of all threads, from `/proc`).
 *
 * ```sh
 * npx tsx bench/src/warmup.ts                          # 2,000 files, 4 passes, under $TMPDIR
 * TMPDIR=/dev/shm npx tsx bench/src/warmup.ts --files 1000 --passes 6
 * ```
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { cpuSeconds } from './cpu.ts';

const here = import.meta.filename;
const repo = path.resolve(path.dirname(here), '..', '..');
const role = process.argv[2];

/** CPU seconds (user + system, every thread) of process `pid` so far. */
function cpuOf(pid: number): number {
  const seconds = cpuSeconds([pid]);
  if (seconds === undefined) throw new Error(`no CPU time for process ${pid} (is /proc mounted?)`);
  return seconds;
}

if (role === 'server') await server(process.argv[3]!);
else if (role === 'client') await client(JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as ClientPlan);
else await main();

interface ClientPlan {
  readonly port: number;
  readonly serverPid: number;
  readonly files: readonly string[];
  readonly passes: number;
  readonly downloadDir: string;
}

async function server(root: string): Promise<void> {
  const { FileShareServer, MemoryAuthProvider } = await import('../../src/index.ts');
  const auth = await MemoryAuthProvider.fromPasswords({ bench: 'bench-password' });
  const share = new FileShareServer({ root, auth, host: '127.0.0.1', port: 0 });
  await share.listen();
  process.stdout.write(`port ${share.address().port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void share.close().then(() => process.exit(0)));
}

async function client(plan: ClientPlan): Promise<void> {
  const { FileShareClient } = await import('../../src/index.ts');
  const share = new FileShareClient({ host: '127.0.0.1', port: plan.port });
  await share.connect();
  await share.login('bench', 'bench-password');
  const n = plan.files.length;
  const perFile = (seconds: number) => ((seconds * 1000) / n).toFixed(3);
  for (let pass = 1; pass <= plan.passes; pass++) {
    const folder = `/pass-${pass}`;
    await share.mkdir(folder);
    for (const direction of ['upload', 'download'] as const) {
      const client0 = cpuOf(process.pid);
      const server0 = cpuOf(plan.serverPid);
      const started = performance.now();
      for (const [i, file] of plan.files.entries()) {
        if (direction === 'upload') await share.upload(file, `${folder}/${i}.bin`);
        else await share.download(`${folder}/${i}.bin`, path.join(plan.downloadDir, `${pass}-${i}.bin`));
      }
      const wall = (performance.now() - started) / 1000;
      const line = `pass ${pass} ${direction.padEnd(8)} ${Math.round(n / wall)
        .toString()
        .padStart(
          5,
        )} files/s   CPU ms/file: client ${perFile(cpuOf(process.pid) - client0)}, server ${perFile(cpuOf(plan.serverPid) - server0)}`;
      process.stdout.write(`${line}\n`);
    }
  }
  await share.close();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { files: { type: 'string', default: '2000' }, passes: { type: 'string', default: '4' } } });
  const count = Number(values.files);
  const passes = Number(values.passes);
  if (!Number.isSafeInteger(count) || count < 1 || count > 100_000) throw new TypeError('--files must be 1 to 100000');
  if (!Number.isSafeInteger(passes) || passes < 1 || passes > 20) throw new TypeError('--passes must be 1 to 20');
  const work = mkdtempSync(path.join(tmpdir(), 'fileshare-warmup-'));
  try {
    const root = path.join(work, 'root');
    const source = path.join(work, 'source');
    const downloadDir = path.join(work, 'copies');
    for (const dir of [path.join(root, 'bench'), source, downloadDir]) mkdirSync(dir, { recursive: true });
    const files = Array.from({ length: count }, (_, i) => {
      const file = path.join(source, `${i}.bin`);
      writeFileSync(file, randomBytes(4096));
      return file;
    });
    const { buildWorkers } = await import('./build.ts');
    const script = (await buildWorkers([here])).get(here)!;
    const srv = spawn(process.execPath, [script, 'server', root], { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        createInterface({ input: srv.stdout! }).on('line', (line) => {
          if (line.startsWith('port ')) resolve(Number(line.slice(5)));
        });
        srv.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      });
      const plan: ClientPlan = { port, serverPid: srv.pid!, files, passes, downloadDir };
      // the plan names every file: it goes in a file, as argv takes at most 128 KiB per argument
      const planFile = path.join(work, 'plan.json');
      writeFileSync(planFile, JSON.stringify(plan));
      const cli = spawn(process.execPath, [script, 'client', planFile], { cwd: repo, stdio: 'inherit' });
      const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));
      if (code !== 0) process.exitCode = 1;
    } finally {
      srv.stdin!.end();
      if (srv.exitCode === null) await new Promise((resolve) => srv.once('exit', resolve));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
