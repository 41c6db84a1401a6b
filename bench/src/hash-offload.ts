/**
 * Large transfers with the SHA-256 inline against offloaded to a worker thread, alternating in one
 * run so that the comparison holds on a shared machine: MB/s, and the CPU per MiB of each side's
 * main thread and of the whole process (from /proc/<pid>/task/<tid>/schedstat, in ns).
 *
 * ```sh
 * TMPDIR=/dev/shm npx tsx bench/src/hash-offload.ts --size 256M --rounds 3 [--modes inline,offload,server]
 * ```
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const here = import.meta.filename;

/** CPU ns of this process's main thread and of all its threads. */
function cpuNs(): { main: number; all: number } {
  const read = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  let all = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      all += read(tid);
    } catch {
      /* a thread that just exited */
    }
  }
  return { main: read(String(process.pid)), all };
}

/** `inline`, `offload` (both sides), or `server` (the server offloads, the client hashes inline). */
async function applyMode(mode: string, role: 'server' | 'client'): Promise<void> {
  const { hashOffloadSettings } = await import('../../src/transport/transfer-hash.ts');
  const offload = mode === 'offload' || (mode === 'server' && role === 'server');
  hashOffloadSettings({ minBytes: offload ? 8 * 1024 * 1024 : Number.POSITIVE_INFINITY });
}

if (process.argv[2] === 'server') {
  const [root, mode] = [process.argv[3]!, process.argv[4]!];
  await applyMode(mode, 'server');
  const { FileShareServer, MemoryAuthProvider } = await import('../../src/index.ts');
  const auth = await MemoryAuthProvider.fromPasswords({ bench: 'bench-password' });
  const server = new FileShareServer({ root, auth, host: '127.0.0.1', port: 0 });
  await server.listen();
  let last = cpuNs();
  process.on('message', (m: string) => {
    if (m === 'mark') {
      const now = cpuNs();
      process.send!({ main: now.main - last.main, all: now.all - last.all });
      last = now;
    } else void server.close().then(() => process.exit(0));
  });
  process.send!({ port: server.address().port });
} else if (process.argv[2] === 'client') {
  const [port, file, outDir, mode] = [Number(process.argv[3]), process.argv[4]!, process.argv[5]!, process.argv[6]!];
  await applyMode(mode, 'client');
  const { FileShareClient } = await import('../../src/index.ts');
  const client = new FileShareClient({ host: '127.0.0.1', port });
  await client.connect();
  await client.login('bench', 'bench-password');
  const result: Record<string, unknown> = {};
  for (const direction of ['up', 'down'] as const) {
    await new Promise<void>((resolve) => {
      process.send!({ mark: true });
      process.once('message', () => resolve());
    });
    const before = cpuNs();
    const t0 = performance.now();
    if (direction === 'up') await client.upload(file, '/big.bin', { overwrite: true });
    else await client.download('/big.bin', path.join(outDir, 'big.copy'));
    const ms = performance.now() - t0;
    const after = cpuNs();
    result[direction] = { ms, main: after.main - before.main, all: after.all - before.all };
  }
  await client.close();
  process.send!({ result });
  process.disconnect();
} else {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1]! : fallback;
  };
  const sizeArg = option('--size', '256M');
  const size = Number.parseInt(sizeArg) * (sizeArg.endsWith('G') ? 1 << 30 : sizeArg.endsWith('M') ? 1 << 20 : 1);
  const rounds = Number(option('--rounds', '3'));
  const base = mkdtempSync(path.join(tmpdir(), 'hash-offload-'));
  const file = path.join(base, 'big.bin');
  writeFileSync(file, randomBytes(size));
  const mib = size / (1 << 20);
  const rows: Record<string, { up: number[]; down: number[]; cpu: Record<string, number[]> }> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      const modes = option('--modes', 'inline,offload').split(',');
      for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
        const root = mkdtempSync(path.join(base, 'root-'));
        const out = mkdtempSync(path.join(base, 'out-'));
        const server = fork(here, ['server', root, mode], { execArgv: process.execArgv });
        const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
        const serverCpu: Array<{ main: number; all: number }> = [];
        const client = fork(here, ['client', String(port), file, out, mode], { execArgv: process.execArgv });
        const result = await new Promise<Record<string, { ms: number; main: number; all: number }>>((resolve) => {
          client.on('message', (m: { mark?: boolean; result?: Record<string, { ms: number; main: number; all: number }> }) => {
            if (m.mark) {
              server.once('message', (used: { main: number; all: number }) => {
                serverCpu.push(used);
                client.send('go');
              });
              server.send('mark');
            } else if (m.result) {
              server.once('message', (used: { main: number; all: number }) => {
                serverCpu.push(used);
                resolve(m.result!);
              });
              server.send('mark');
            }
          });
        });
        server.send('close');
        await new Promise((resolve) => server.once('exit', resolve));
        const row = (rows[mode] ??= { up: [], down: [], cpu: {} });
        row.up.push(size / 1e6 / (result.up!.ms / 1000));
        row.down.push(size / 1e6 / (result.down!.ms / 1000));
        const add = (key: string, ns: number) => (row.cpu[key] ??= []).push(ns / 1e6 / mib);
        // serverCpu[1] covers the upload (mark before it, mark before the download), [2] the download
        add('up client main', result.up!.main);
        add('up client all', result.up!.all);
        add('up server main', serverCpu[1]!.main);
        add('up server all', serverCpu[1]!.all);
        add('down client main', result.down!.main);
        add('down client all', result.down!.all);
        add('down server main', serverCpu[2]!.main);
        add('down server all', serverCpu[2]!.all);
        rmSync(root, { recursive: true, force: true });
        rmSync(out, { recursive: true, force: true });
        console.log(
          `round ${round} ${mode}: up ${row.up.at(-1)!.toFixed(0)} MB/s, down ${row.down.at(-1)!.toFixed(0)} MB/s; ms/MiB ` +
            Object.entries(row.cpu)
              .map(([k, v]) => `${k} ${v.at(-1)!.toFixed(2)}`)
              .join(', '),
        );
      }
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  console.log(`\nmedians of ${rounds} (${sizeArg}, ${tmpdir()}):`);
  for (const [mode, row] of Object.entries(rows)) {
    console.log(
      `${mode.padEnd(8)} up ${median(row.up).toFixed(0)} MB/s, down ${median(row.down).toFixed(0)} MB/s; CPU ms/MiB: ` +
        Object.entries(row.cpu)
          .map(([k, v]) => `${k} ${median(v).toFixed(2)}`)
          .join(', '),
    );
  }
}
