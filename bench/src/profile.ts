/**
 * CPU profiles of fileshare's data path: `node --cpu-prof` on a server process and a client
 * process (separate, over 127.0.0.1), one scenario at a time, then a summary of where each spent
 * its time (self time by function, and by source file).
 *
 * ```sh
 * npx tsx bench/src/profile.ts                       # every scenario, 256 MiB, 1,000 small files
 * npx tsx bench/src/profile.ts --only up,small1 --size 512M --files 2000 --tls
 * ```
 * Scenarios: `up` / `down` (one big file), `small1` (4 KiB files one at a time, up then down),
 * `small64` (the same with 64 in flight), `tree` (the same files in nested folders, as the bench's
 * `tree` workload lays them out, plus 20 files of 1 MiB, through `uploadDir` then `downloadDir`;
 * `FILESHARE_BENCH_TREE_CONCURRENCY` sets their `concurrency`, `FILESHARE_PROFILE_MEDIUM` the number
 * of medium files, `FILESHARE_PROFILE_NOMTIME=1` turns `preserveMtime` off). The `.cpuprofile` files stay in the output folder
 * (printed) for Chrome DevTools or speedscope.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { makeSelfSignedCert } from './certs.ts';

const here = import.meta.filename;
const repo = path.resolve(path.dirname(here), '..', '..');
const role = process.argv[2];
/** Experiments: DATA chunk size and flow-control window on both sides (`FILESHARE_BENCH_CHUNK`, `FILESHARE_BENCH_WINDOW`, as bench/). */
const tuning = {
  ...(process.env.FILESHARE_BENCH_CHUNK ? { chunkSize: Number(process.env.FILESHARE_BENCH_CHUNK) } : {}),
  ...(process.env.FILESHARE_BENCH_WINDOW ? { window: Number(process.env.FILESHARE_BENCH_WINDOW) } : {}),
};

const MEDIUM_FILES = Number(process.env.FILESHARE_PROFILE_MEDIUM ?? 20);
const SCENARIOS = ['up', 'down', 'small1', 'small64', 'tree'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Plan {
  scenario: Scenario;
  port: number;
  big: string;
  smallDir: string;
  treeDir: string;
  outDir: string;
  tls?: { ca: string };
}

if (role === 'server') await server(JSON.parse(process.argv[3]!) as { root: string; tls?: { cert: string; key: string } });
else if (role === 'client') await client(JSON.parse(process.argv[3]!) as Plan);
else await main();

async function server(config: { root: string; tls?: { cert: string; key: string } }): Promise<void> {
  const { FileShareServer, MemoryAuthProvider } = await import('../../src/index.ts');
  const auth = await MemoryAuthProvider.fromPasswords({ bench: 'bench-password' });
  const server = new FileShareServer({
    root: config.root,
    auth,
    host: '127.0.0.1',
    port: 0,
    ...tuning,
    ...(config.tls ? { tls: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } } : {}),
  });
  await server.listen();
  process.stdout.write(`port ${server.address().port}\n`);
  // "mark" lines on stdin bracket the timed part: the answer is the CPU used (all threads) and the
  // context switches since the previous mark. The end of stdin stops the server (the profile is
  // written on a normal exit).
  let last = { cpu: process.cpuUsage(), usage: process.resourceUsage() };
  createInterface({ input: process.stdin }).on('line', () => {
    const now = { cpu: process.cpuUsage(), usage: process.resourceUsage() };
    process.stdout.write(`mark ${JSON.stringify(delta(last, now))}\n`);
    last = now;
  });
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
}

async function client(plan: Plan): Promise<void> {
  const { FileShareClient } = await import('../../src/index.ts');
  const share = new FileShareClient({
    host: '127.0.0.1',
    port: plan.port,
    ...tuning,
    ...(plan.tls ? { tls: { ca: readFileSync(plan.tls.ca), servername: 'localhost' } } : {}),
  });
  await share.connect();
  await share.login('bench', 'bench-password');
  if (plan.scenario === 'down') await share.upload(plan.big, '/big.bin', { overwrite: true });
  if (plan.scenario === 'small1' || plan.scenario === 'small64') await share.mkdir('/s').catch(() => {});
  // the harness marks the server's CPU, then says go
  process.stdout.write('ready\n');
  const go = createInterface({ input: process.stdin });
  const nextLine = () => new Promise((resolve) => go.once('line', resolve));
  await nextLine();
  const release = () => {
    go.close();
    process.stdin.destroy(); // or the open pipe keeps this process alive
  };
  const before: Usage = { cpu: process.cpuUsage(), usage: process.resourceUsage() };
  const started = performance.now();
  let what = '';
  if (plan.scenario === 'up' || plan.scenario === 'down') {
    const t0 = performance.now();
    release();
    if (plan.scenario === 'up') await share.upload(plan.big, '/big.bin', { overwrite: true });
    else await share.download('/big.bin', path.join(plan.outDir, 'big.copy'), { overwrite: true } as never);
    const s = (performance.now() - t0) / 1000;
    const bytes = readFileSize(plan.big);
    what = `${plan.scenario}: ${(bytes / 1e6 / s).toFixed(0)} MB/s`;
  } else if (plan.scenario === 'tree') {
    const concurrency = process.env.FILESHARE_BENCH_TREE_CONCURRENCY ? Number(process.env.FILESHARE_BENCH_TREE_CONCURRENCY) : undefined;
    const opts = {
      overwrite: true,
      ...(concurrency ? { concurrency } : {}),
      ...(process.env.FILESHARE_PROFILE_NOMTIME ? { preserveMtime: false } : {}),
    };
    const count = countFiles(plan.treeDir);
    let t0 = performance.now();
    await share.uploadDir(plan.treeDir, '/tree', opts);
    const up = count / ((performance.now() - t0) / 1000);
    process.stdout.write(`phase ${JSON.stringify(delta(before, { cpu: process.cpuUsage(), usage: process.resourceUsage() }))}\n`);
    await nextLine();
    release();
    t0 = performance.now();
    await share.downloadDir('/tree', path.join(plan.outDir, 'tree'), opts);
    const dn = count / ((performance.now() - t0) / 1000);
    what = `tree: uploadDir ${up.toFixed(0)} files/s, downloadDir ${dn.toFixed(0)} files/s`;
  } else {
    const files = readdirSync(plan.smallDir).sort();
    const parallel = plan.scenario === 'small1' ? 1 : 64;
    const down = path.join(plan.outDir, 'small');
    mkdirSync(down, { recursive: true });
    const run = async (fn: (name: string) => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < files.length) await fn(files[next++]!);
        }),
      );
      return files.length / ((performance.now() - t0) / 1000);
    };
    const up = await run((f) => share.upload(path.join(plan.smallDir, f), `/s/${f}`, { overwrite: true }));
    // the uploads' own CPU on both sides: the harness marks the server's, then lets the downloads start
    process.stdout.write(`phase ${JSON.stringify(delta(before, { cpu: process.cpuUsage(), usage: process.resourceUsage() }))}\n`);
    await nextLine();
    release();
    const dn = await run((f) => share.download(`/s/${f}`, path.join(down, f), { overwrite: true } as never));
    what = `${plan.scenario}: upload ${up.toFixed(0)} files/s, download ${dn.toFixed(0)} files/s`;
  }
  const used = delta(before, { cpu: process.cpuUsage(), usage: process.resourceUsage() });
  process.stdout.write(`result ${what} (${((performance.now() - started) / 1000).toFixed(1)} s) ${JSON.stringify(used)}\n`);
  await share.close();
}

interface Usage {
  cpu: NodeJS.CpuUsage;
  usage: NodeJS.ResourceUsage;
}

/** CPU ms (user, system) and context switches between two samples. */
function delta(a: Usage, b: Usage): { userMs: number; systemMs: number; switches: number } {
  return {
    userMs: (b.cpu.user - a.cpu.user) / 1000,
    systemMs: (b.cpu.system - a.cpu.system) / 1000,
    switches:
      b.usage.voluntaryContextSwitches -
      a.usage.voluntaryContextSwitches +
      b.usage.involuntaryContextSwitches -
      a.usage.involuntaryContextSwitches,
  };
}

/** Files (not folders) in a tree. */
function countFiles(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
}

function readFileSize(file: string): number {
  return statSync(file).size;
}

function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(text);
  if (!m) throw new Error(`bad size ${text}`);
  return Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!.toUpperCase()]!;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1]! : fallback;
  };
  const only = opt('only', SCENARIOS.join(',')).split(',') as Scenario[];
  const size = parseSize(opt('size', '256M'));
  const fileCount = Number(opt('files', '1000'));
  const useTls = args.includes('--tls');
  const top = Number(opt('top', '25'));
  const work = mkdtempSync(path.join(tmpdir(), 'fileshare-profile-'));
  const outDir = path.resolve(opt('out', path.join(work, 'profiles')));
  mkdirSync(outDir, { recursive: true });
  const big = path.join(work, 'big.bin');
  const smallDir = path.join(work, 'small-src');
  mkdirSync(smallDir);
  if (only.some((s) => s === 'up' || s === 'down')) {
    const block = randomBytes(1 << 20);
    const parts: Buffer[] = [];
    for (let i = 0; i < size / block.length; i++) parts.push(createHash('sha256').update(block).update(String(i)).digest(), block);
    writeFileSync(big, Buffer.concat(parts).subarray(0, size));
  }
  for (let i = 0; i < fileCount; i++) writeFileSync(path.join(smallDir, `f${String(i).padStart(5, '0')}.bin`), randomBytes(4096));
  // the bench's tree: the small files in 10 folders of 3 subfolders each, 20 medium files at the top
  const treeDir = path.join(work, 'tree-src');
  const treeFiles = only.includes('tree') ? fileCount + MEDIUM_FILES : 0;
  if (only.includes('tree')) {
    for (let i = 0; i < fileCount; i++) {
      const sub = path.join(treeDir, `d${i % 10}`, `e${Math.floor(i / 10) % 3}`);
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, `f${String(i).padStart(5, '0')}.bin`), randomBytes(4096));
    }
    for (let i = 0; i < MEDIUM_FILES; i++)
      writeFileSync(path.join(treeDir, `medium-${String(i).padStart(2, '0')}.bin`), randomBytes(1 << 20));
  }
  let tls: { cert: string; key: string } | undefined;
  if (useTls) {
    tls = await makeSelfSignedCert(work);
  }
  // plain JavaScript, as the bench workers run: no tsx loader thread in the profiles
  const { buildWorkers } = await import('./build.ts');
  const script = (await buildWorkers([here])).get(here)!;
  try {
    for (const scenario of only) {
      const root = path.join(work, `root-${scenario}`);
      mkdirSync(root);
      const dir = path.join(outDir, scenario);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      // one folder per process: every thread (the bcrypt pool's too) writes its own profile there
      const node = (who: string) => [`--cpu-prof`, `--cpu-prof-dir=${path.join(dir, who)}`, script];
      const srv = spawn(process.execPath, [...node('server'), 'server', JSON.stringify({ root, tls })], {
        cwd: repo,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const srvLines = createInterface({ input: srv.stdout! });
      const marks: string[] = [];
      let onMark: (() => void) | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        srvLines.on('line', (line) => {
          if (line.startsWith('port ')) resolve(Number(line.slice(5)));
          if (line.startsWith('mark ')) {
            marks.push(line.slice(5));
            onMark?.();
          }
        });
        srv.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      });
      const mark = () =>
        new Promise<string>((resolve) => {
          onMark = () => resolve(marks.at(-1)!);
          srv.stdin!.write('mark\n');
        });
      const plan: Plan = {
        scenario,
        port,
        big,
        smallDir,
        treeDir,
        outDir: path.join(work, `out-${scenario}`),
        ...(tls ? { tls: { ca: tls.cert } } : {}),
      };
      mkdirSync(plan.outDir);
      const cli = spawn(process.execPath, [...node('client'), 'client', JSON.stringify(plan)], {
        cwd: repo,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let out = '';
      let serverUsed = '';
      let clientUp = '';
      let serverUp = '';
      const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
      createInterface({ input: cli.stdout! }).on('line', (line) => {
        if (line === 'ready') void mark().then(() => cli.stdin!.write('go\n'));
        else if (line.startsWith('phase ')) {
          clientUp = line.slice(6);
          void mark().then((used) => {
            serverUp = used;
            cli.stdin!.write('go\n');
          });
        } else if (line.startsWith('result ')) {
          out = line.slice(7);
          void mark().then((used) => (serverUsed = used));
        }
      });
      const code = await exited;
      while (!serverUsed && marks.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      serverUsed ||= marks.at(-1) ?? '';
      srv.stdin!.end();
      await new Promise((resolve) => srv.once('exit', resolve));
      console.log(`\n=== ${scenario}${useTls ? ' (TLS)' : ''}: ${out.trim()}${code ? ` (client exit ${code})` : ''}`);
      const perFile = scenario === 'small1' || scenario === 'small64' || scenario === 'tree';
      const oneWay = scenario === 'tree' ? treeFiles : fileCount;
      const per = perFile ? oneWay * 2 : size / (1 << 20);
      const unit = perFile ? 'file' : 'MiB';
      type Used = ReturnType<typeof delta>;
      const line = (who: string, u: Used, count: number) => {
        const cpu = u.userMs + u.systemMs;
        console.log(
          `cpu ${who}: ${cpu.toFixed(0)} ms (user ${u.userMs.toFixed(0)}, sys ${u.systemMs.toFixed(0)}), ` +
            `${((cpu * 1000) / count).toFixed(0)} µs per ${unit}, ${(u.switches / count).toFixed(1)} context switches per ${unit}`,
        );
      };
      const clientAll = JSON.parse(out.slice(out.lastIndexOf('{'))) as Used;
      if (clientUp && serverUp) {
        // the server's marks split the timed part: uploads, then downloads; the client's totals include both
        const cUp = JSON.parse(clientUp) as Used;
        const sUp = JSON.parse(serverUp) as Used;
        const sDown = JSON.parse(serverUsed) as Used;
        const minus = (a: Used, b: Used): Used => ({
          userMs: a.userMs - b.userMs,
          systemMs: a.systemMs - b.systemMs,
          switches: a.switches - b.switches,
        });
        const plus = (a: Used, b: Used): Used => ({
          userMs: a.userMs + b.userMs,
          systemMs: a.systemMs + b.systemMs,
          switches: a.switches + b.switches,
        });
        line('client', clientAll, per);
        line('server', plus(sUp, sDown), per);
        line('client upload', cUp, oneWay);
        line('server upload', sUp, oneWay);
        line('client download', minus(clientAll, cUp), oneWay);
        line('server download', sDown, oneWay);
      } else {
        line('client', clientAll, per);
        line('server', JSON.parse(serverUsed) as Used, per);
      }
      for (const who of ['server', 'client']) summarize(mainThreadProfile(path.join(dir, who)), who, top);
      rmSync(root, { recursive: true, force: true });
      rmSync(plan.outDir, { recursive: true, force: true });
    }
  } finally {
    for (const entry of readdirSync(work)) if (entry !== 'profiles') rmSync(path.join(work, entry), { recursive: true, force: true });
  }
  console.log(`\nprofiles: ${outDir}`);
}

/** The main thread's profile: Node names them `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`, thread 0. */
function mainThreadProfile(dir: string): string {
  const main = readdirSync(dir).find((name) => name.split('.')[4] === '0');
  if (!main) throw new Error(`no main-thread profile in ${dir}`);
  return path.join(dir, main);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time per function and per file, from a `.cpuprofile`, idle and GC shown apart. */
function summarize(file: string, who: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = profile.endTime - profile.startTime;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const short = url.replace(`file://${repo}/`, '').replace(/^node:/, 'node:');
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const fileKey = short || functionName;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const busy = total - idle;
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number) => ((100 * us) / total).toFixed(1).padStart(5);
  console.log(`--- ${who}: ${ms(total)} ms wall, ${ms(busy)} ms busy (${pct(busy)} %), idle ${ms(idle)} ms`);
  for (const [key, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(us)} ms ${pct(us)} %  ${key}`);
  console.log(`  by kind:`);
  const byKind = new Map<string, number>();
  for (const [key, us] of byFile) byKind.set(kindOf(key), (byKind.get(kindOf(key)) ?? 0) + us);
  for (const [key, us] of [...byKind].sort((a, b) => b[1] - a[1])) console.log(`  ${ms(us)} ms ${pct(us)} %  ${key}`);
  console.log(`  by file:`);
  for (const [key, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${ms(us)} ms ${pct(us)} %  ${key}`);
}

/** A coarse bucket for a profile's file key (a URL, or a native function's name). */
function kindOf(key: string): string {
  if (/modules|cjs-module-lexer|bootstrap|typescript|esm|vm$/.test(key)) return 'module loading (start-up)';
  if (/^(writeBuffer|writev|writeUtf8String|writeLatin1String|shutdown)$/.test(key)) return 'socket writes (native)';
  if (
    /^(open|openFileHandle|close|read|write|stat|lstat|fstat|realpath|readlink|rename|link|unlink|statfs|utimes|futimes|fsync|access|readFileUtf8|mkdir)$/.test(
      key,
    )
  )
    return 'fs calls (native dispatch)';
  if (key === '(garbage collector)') return 'GC';
  if (key.startsWith('bench/.build/') && key.includes('/src/')) return 'fileshare src/ (JS)';
  if (key.startsWith('bench/')) return 'bench harness';
  if (key.startsWith('node:internal/fs')) return 'node fs (JS)';
  if (key.startsWith('node:internal/streams') || key === 'node:stream') return 'node streams (JS)';
  if (key.startsWith('node:internal/crypto') || /^(Hash|digest|update|hashUpdate|HashUpdate|randomFillSync)$/.test(key)) return 'crypto';
  if (/task_queues|timers|async_hooks|promises|process/.test(key)) return 'node scheduling (ticks, timers, promises)';
  if (key.startsWith('node:')) return 'node other (JS)';
  return `other: ${key}`;
}
