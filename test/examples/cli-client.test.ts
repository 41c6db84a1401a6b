/**
 * examples/cli-client end to end: the real client runs as a child process (scripts/run.mjs, as
 * `npm run client` does) against in-process servers on port 0. Script mode and its exit codes,
 * recursive transfers, the shell driven through piped stdin, Ctrl-C, lost connections, TLS pinning.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, FileShareServer, type FileShareServerOptions } from '../../src/index.ts';
import { fixtureAuth } from '../auth-fixtures.ts';
import { testCertificate } from '../tls-certs.ts';

const RUN = fileURLToPath(new URL('../../scripts/run.mjs', import.meta.url));
const APP = 'examples/cli-client/src/main.ts';
// generous: on a loaded 2-core machine a tsx start alone can take many seconds
const STEP_TIMEOUT_MS = 60_000;

const children = new Set<ChildProcessWithoutNullStreams>();
const servers = new Set<FileShareServer>();
let tmp: string;
let server: FileShareServer;
let port: number;
let root: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Start the client; resolves on exit. Bounded: killed (by PID) after `timeoutMs`. */
function start(args: string[], options: { env?: Record<string, string | undefined>; port?: number; timeoutMs?: number } = {}) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    FILESHARE_PASSWORD: 'pw',
    NO_COLOR: '1',
    FORCE_COLOR: undefined, // set by some runners; Node warns when both are set
    FILESHARE_KNOWN_HOSTS: path.join(tmp, 'known_hosts_default'),
    FILESHARE_HISTORY: path.join(tmp, 'history'),
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const child = spawn(
    process.execPath,
    [RUN, APP, '--host', '127.0.0.1', '--port', String(options.port ?? port), '--user', 'alice', ...args],
    {
      env: env as NodeJS.ProcessEnv,
      cwd: tmp,
    },
  );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill(child);
      reject(
        new Error(
          `client ${args.join(' ')} did not exit within ${options.timeoutMs ?? STEP_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, options.timeoutMs ?? STEP_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  done.catch(() => {}); // awaited by the caller; never an unhandled rejection
  return { child, done, output: () => stdout, errors: () => stderr };
}

/** Run the client to completion, optionally feeding `stdin`. */
async function client(
  args: string[],
  options: { stdin?: string; env?: Record<string, string | undefined>; port?: number } = {},
): Promise<Run> {
  const run = start(args, options);
  try {
    run.child.stdin.end(options.stdin ?? '');
    return await run.done;
  } finally {
    kill(run.child);
  }
}

/** Stop a child by PID: SIGTERM (run.mjs forwards it to the app), SIGKILL if it lingers. */
function kill(child: ChildProcessWithoutNullStreams): void {
  if (child.exitCode !== null || child.pid === undefined) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  setTimeout(() => {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }, 1000).unref();
}

/** Resolve when `check()` holds; fail after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startServer(
  options: Partial<FileShareServerOptions> = {},
): Promise<{ server: FileShareServer; port: number; root: string }> {
  const dir = await mkdtemp(path.join(tmp, 'root-'));
  const s = new FileShareServer({
    root: dir,
    auth: fixtureAuth({ alice: 'pw' }),
    host: '127.0.0.1',
    port: 0,
    ...options,
  });
  servers.add(s);
  const { port: p } = await s.listen();
  return { server: s, port: p, root: dir };
}

/** A port nobody listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port: p } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return p;
}

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'cli-client-test-'));
  ({ server, port, root } = await startServer());
});

test.after(async () => {
  for (const child of children) kill(child);
  await Promise.allSettled([...servers].map((s) => s.close()));
  await rm(tmp, { recursive: true, force: true });
});

test('script mode: put, ls, stat, get, mkdir, mv, rm succeed with exit code 0', async () => {
  const data = randomBytes(200_000);
  await writeFile(path.join(tmp, 'a.bin'), data);

  const [put, mk] = await Promise.all([client(['put', './a.bin', '/']), client(['mkdir', '/docs'])]);
  assert.is(put.code, 0, put.stderr);
  assert.match(put.stdout, /^uploaded \/a\.bin 200\.0 kB in [\d.]+ s \([\d.]+ [kMG]?B\/s\), sha256 [0-9a-f]{12}…$/m);
  assert.equal(await readFile(path.join(root, 'a.bin')), data);
  assert.is(mk.code, 0, mk.stderr);

  const mv = await client(['mv', '/a.bin', '/docs']);
  assert.is(mv.code, 0, mv.stderr);
  assert.ok(existsSync(path.join(root, 'docs', 'a.bin')), 'moved into the folder');

  const [ls, json, st, get] = await Promise.all([
    client(['ls', '/docs']),
    client(['ls', '--json', '/docs']),
    client(['stat', '--json', '/docs/a.bin']),
    client(['get', '/docs/a.bin', './back.bin']),
  ]);
  assert.is(ls.code, 0, ls.stderr);
  assert.is(ls.stdout, 'a.bin\n');
  const entries = JSON.parse(json.stdout) as { name: string; type: string; size: number }[];
  assert.equal(
    entries.map((e) => [e.name, e.type, e.size]),
    [['a.bin', 'file', 200_000]],
  );
  assert.is(st.code, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout), { ...JSON.parse(st.stdout), path: '/docs/a.bin', type: 'file', size: 200_000 });
  assert.is(get.code, 0, get.stderr);
  assert.match(get.stdout, /^downloaded back\.bin 200\.0 kB in .*sha256 [0-9a-f]{12}…$/m);
  assert.equal(await readFile(path.join(tmp, 'back.bin')), data);

  const del = await client(['rm', '/docs/a.bin']);
  assert.is(del.code, 0, del.stderr);
  assert.equal(await readdir(path.join(root, 'docs')), []);
  await rm(path.join(root, 'docs'), { recursive: true });
});

test('ping -u: UDP probes with per-probe lines and ping(8) statistics; a server without probes is an error', async () => {
  const probing = await startServer({ udpProbes: true });
  const udp = await client(['ping', '-u', '-c', '5', '-i', '10', '-s', '100'], { port: probing.port });
  assert.is(udp.code, 0, udp.stderr);
  for (let seq = 1; seq <= 5; seq++)
    assert.match(udp.stdout, new RegExp(`^udp reply from 127\\.0\\.0\\.1:${probing.port}: seq=${seq} bytes=100 time=[\\d.]+ ms$`, 'm'));
  assert.match(udp.stdout, new RegExp(`^--- 127\\.0\\.0\\.1:${probing.port} udp: 5 sent, 5 received, 0% lost$`, 'm'));
  assert.match(udp.stdout, /^rtt min\/avg\/p50\/p95\/max = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms, jitter [\d.]+ ms$/m);
  const off = await client(['ping', '-u']);
  assert.is(off.code, 6, off.stderr);
  assert.match(off.stderr, /does not offer UDP probes/);
  const bad = await client(['ping', '-u', '-s', '2000'], { port: probing.port });
  assert.is(bad.code, 2, bad.stderr);
});

test('script mode: exit codes 2 usage, 3 auth, 4 not found, 5 exists, 6 server down', async () => {
  await writeFile(path.join(tmp, 'x.txt'), 'new');
  await writeFile(path.join(root, 'exists.txt'), 'old');
  await writeFile(path.join(root, 'replace.txt'), 'old');
  const [usage, auth, missing, exists, forced, down] = await Promise.all([
    client(['ls', '--bogus']),
    client(['ls'], { env: { FILESHARE_PASSWORD: 'wrong' } }),
    client(['get', '/missing.txt']),
    client(['put', 'x.txt', '/exists.txt']),
    client(['put', '-f', 'x.txt', '/replace.txt']),
    closedPort().then((p) => client(['ls'], { port: p })),
  ]);
  assert.is(usage.code, 2, usage.stderr);
  assert.is(auth.code, 3, auth.stderr);
  assert.match(auth.stderr, /wrong username or password/);
  assert.is(missing.code, 4, missing.stderr);
  assert.match(missing.stderr, /get: .*\/missing\.txt/);
  assert.is(exists.code, 5, exists.stderr);
  assert.is(exists.stderr, 'fileshare-client: put: remote file exists: /exists.txt (use put -f to overwrite)\n', 'one line on stderr');
  assert.is(await readFile(path.join(root, 'exists.txt'), 'utf8'), 'old');
  assert.is(forced.code, 0, forced.stderr);
  assert.is(await readFile(path.join(root, 'replace.txt'), 'utf8'), 'new');
  assert.is(down.code, 6, down.stderr);
  assert.match(down.stderr, /connection refused/);
  await rm(path.join(root, 'exists.txt'));
  await rm(path.join(root, 'replace.txt'));
});

test('put -r uploads a folder tree, get -r brings it back identical', async () => {
  const src = path.join(tmp, 'tree');
  await mkdir(path.join(src, 'sub', 'deep'), { recursive: true });
  await mkdir(path.join(src, 'empty'));
  await writeFile(path.join(src, 'one.txt'), 'one');
  await writeFile(path.join(src, 'sub', 'two.txt'), 'two');
  await writeFile(path.join(src, 'sub', 'deep', 'r.bin'), randomBytes(100_000));

  // both in one client (a batch ends at the first failure, with its exit code)
  const run = await client(['-b', '-'], { stdin: ['put -r tree /backup/', 'get -r /backup/tree copy', ''].join('\n') });
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /uploaded tree to \/backup\/tree: 3 file\(s\), 4 folder\(s\)/);

  const listing = async (dir: string) => (await readdir(dir, { recursive: true })).map(String).sort();
  assert.equal(await listing(path.join(tmp, 'copy')), await listing(src));
  for (const file of ['one.txt', 'sub/two.txt', 'sub/deep/r.bin']) {
    assert.equal(await readFile(path.join(tmp, 'copy', file)), await readFile(path.join(src, file)), file);
  }
  await rm(path.join(root, 'backup'), { recursive: true });
});

test('the shell works line by line on piped stdin: prompt, results, errors, quit', async () => {
  await writeFile(path.join(tmp, 'up.txt'), 'hello shell');
  await mkdir(path.join(root, 'inbox'));
  const run = await client([], {
    // a leading '-' lets the run go on when that line fails, as in `sftp -b`
    stdin: ['ls', 'mkdir sub', 'cd sub', 'pwd', 'put up.txt', '-get missing.txt', 'ls', 'cd ..', '-bogus', 'quit', ''].join('\n'),
  });
  assert.is(run.code, 0, run.stderr);
  const out = run.stdout;
  assert.match(out, /Connected to 127\.0\.0\.1:\d+ as alice/);
  assert.match(out, /alice@127\.0\.0\.1:\/> ls\ninbox\/\n/, out);
  assert.match(out, /alice@127\.0\.0\.1:\/sub> pwd\n\/sub\n/);
  assert.match(out, /uploaded \/sub\/up\.txt 11 B in .*sha256 [0-9a-f]{12}…/);
  assert.match(out, /alice@127\.0\.0\.1:\/sub> ls\nup\.txt\n/, 'the shell went on after the failed -get');
  assert.match(out, /alice@127\.0\.0\.1:\/> quit\n/);
  assert.match(run.stderr, /get: no such file or folder: \/sub\/missing\.txt/);
  assert.match(run.stderr, /bogus: unknown command/);
  assert.is(await readFile(path.join(root, 'sub', 'up.txt'), 'utf8'), 'hello shell');
  await rm(path.join(root, 'sub'), { recursive: true });
  await rm(path.join(root, 'inbox'), { recursive: true });
});

test('the shell reads the password from stdin when FILESHARE_PASSWORD is not set', async () => {
  const ok = await client([], { stdin: 'pw\npwd\n', env: { FILESHARE_PASSWORD: undefined } });
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /:\/> pwd\n\/\n/);
  assert.match(ok.stdout, /\n$/, 'the end of input (Ctrl-D) leaves cleanly');
});

test('a full server refuses the connection: exit code 6, and the message says refused (not lost)', async () => {
  const full = await startServer({ maxConnections: 1 });
  const holder = new FileShareClient({ port: full.port });
  await holder.connect();
  try {
    const refused = await client(['ls'], { port: full.port });
    assert.is(refused.code, 6, refused.stderr);
    assert.match(refused.stderr, /refused the connection: the server is full \(1 connections\); try again later/);
    assert.not.match(refused.stderr, /lost/);
  } finally {
    await holder.close();
  }
});

test('a lost connection is reported and ends the shell with exit code 6', async () => {
  const t = await startServer();
  const run = start([], { port: t.port });
  try {
    await waitFor('the prompt', () => run.output().includes(':/> '));
    await t.server.close();
    const result = await run.done;
    assert.is(result.code, 6, result.stderr);
    assert.match(result.stderr, /connection to 127\.0\.0\.1:\d+ lost/);
  } finally {
    kill(run.child);
  }
});

test('Ctrl-C (SIGINT) cancels a running upload: exit 130, nothing under the target name, only the hidden resumable part', async () => {
  // 1 GiB, sparse: instant to create, and far too long to upload before the Ctrl-C lands
  await writeFile(path.join(tmp, 'big.bin'), '');
  await truncate(path.join(tmp, 'big.bin'), 1024 ** 3);
  const t = await startServer();
  let started = false;
  t.server.metrics.on('progress', () => (started = true));
  const run = start(['put', 'big.bin', '/big.bin'], { port: t.port });
  try {
    await waitFor('the upload to start', () => started);
    process.kill(run.child.pid!, 'SIGINT');
    const result = await run.done;
    assert.is(result.code, 130, result.stderr);
    assert.match(result.stderr, /put: cancelled/);
    await waitFor('the server to end the connection', () => !t.server.connectionCount);
    // put keeps an interrupted upload resumable (put -c continues it): hidden, never listed
    const left = await readdir(t.root);
    assert.ok(
      left.every((name) => name.startsWith('.fileshare-part-r-')),
      left.join(', '),
    );
  } finally {
    kill(run.child);
    await rm(path.join(tmp, 'big.bin'));
  }
});

test('TLS: trust on first use with --accept-new, then pinned; a changed certificate is refused', async () => {
  const [first, second] = await Promise.all([testCertificate('server'), testCertificate('other-server')]);
  const knownHosts = path.join(tmp, 'tls', 'known_hosts');
  const a = await startServer({ tls: { key: first.key, cert: first.cert } });
  const tls = ['--tls', '--known-hosts', knownHosts];

  const [unknown, accepted] = await Promise.all([
    client(['--tls', '--known-hosts', path.join(tmp, 'tls', 'other_known_hosts'), 'ls'], { port: a.port }),
    client([...tls, '--accept-new', 'ping'], { port: a.port }),
  ]);
  assert.is(unknown.code, 6, 'an unknown server is not trusted silently');
  assert.match(unknown.stderr, /unknown TLS server .*--accept-new/);
  assert.is(accepted.code, 0, accepted.stderr);
  assert.match(accepted.stderr, /Permanently added 127\.0\.0\.1:\d+/);
  const saved = await readFile(knownHosts, 'utf8');
  assert.match(saved, new RegExp(`^127\\.0\\.0\\.1:${a.port} ([0-9A-F]{2}:){31}[0-9A-F]{2}\\n$`));
  assert.is(saved.trim().split(' ')[1], new X509Certificate(first.cert).fingerprint256, 'the SHA-256 of the certificate');

  const pinned = await client([...tls, 'ls'], { port: a.port });
  assert.is(pinned.code, 0, pinned.stderr);

  // same address, another certificate: a man in the middle, or a replaced certificate
  const aPort = a.port;
  await a.server.close();
  const b = await startServer({ port: aPort, tls: { key: second.key, cert: second.cert } });
  const changed = await client([...tls, '--accept-new', 'ls'], { port: b.port });
  assert.is(changed.code, 6, changed.stderr);
  assert.match(changed.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
  assert.match(changed.stderr, /line 1 of .*known_hosts/);
  assert.is(await readFile(knownHosts, 'utf8'), saved, 'the trusted fingerprint is kept');
});

test.run();
