/**
 * examples/cli-client for scripts: batch mode (-b FILE, -b -, piped stdin) stops at the first
 * failure with its exit code unless the line starts with '-'; folder transfers, globs, sync and -p
 * through the library; resume of a plain put cut off by Ctrl-C. Real child processes, real server.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareServer } from '../../src/index.ts';
import { fixtureAuth } from '../auth-fixtures.ts';

const RUN = path.resolve(import.meta.dirname, '../../scripts/run.mjs');
const APP = 'examples/cli-client/src/main.ts';
const TIMEOUT_MS = 60_000;

let tmp: string;
let server: FileShareServer;
let port: number;
let root: string;
const children = new Set<ChildProcessWithoutNullStreams>();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FILESHARE_PASSWORD: 'pw',
    NO_COLOR: '1',
    FILESHARE_HISTORY: path.join(tmp, 'history'),
    ...options.env,
  };
  delete env.FORCE_COLOR;
  const child = spawn(process.execPath, [RUN, APP, '--host', '127.0.0.1', '--port', String(port), '--user', 'alice', ...args], {
    env,
    cwd: options.cwd ?? tmp,
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop(child);
      reject(new Error(`client ${args.join(' ')} did not exit within ${TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  done.catch(() => {});
  return { child, done };
}

async function client(args: string[], stdin = '', options: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  const run = start(args, options);
  run.child.stdin.end(stdin);
  return run.done;
}

function stop(child: ChildProcessWithoutNullStreams): void {
  if (child.exitCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'cli-batch-test-'));
  root = await mkdtemp(path.join(tmp, 'root-'));
  server = new FileShareServer({ root, auth: fixtureAuth({ alice: 'pw' }), host: '127.0.0.1', port: 0 });
  ({ port } = await server.listen());
});

test.after(async () => {
  for (const child of children) stop(child);
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

test('-b FILE stops at the first failure with its exit code; a leading - lets a line fail', async () => {
  await writeFile(path.join(tmp, 'ok.txt'), 'ok');
  await writeFile(
    path.join(tmp, 'batch1'),
    ['mkdir /b1', '-get /missing.txt', 'put ok.txt /b1/', 'get /nope.txt', 'mkdir /never', ''].join('\n'),
  );
  const run = await client(['-b', 'batch1']);
  assert.is(run.code, 4, run.stderr);
  assert.match(run.stderr, /get: no such file or folder: \/missing\.txt/);
  assert.match(run.stderr, /get: no such file or folder: \/nope\.txt/);
  assert.is(await readFile(path.join(root, 'b1', 'ok.txt'), 'utf8'), 'ok');
  await assert.not.ok(
    await stat(path.join(root, 'never')).then(
      () => true,
      () => false,
    ),
    'the batch stopped at the failure',
  );

  await writeFile(path.join(tmp, 'batch2'), ['put ok.txt /b1/', ''].join('\n'));
  const exists = await client(['-b', 'batch2']);
  assert.is(exists.code, 5, 'an existing remote file is exit code 5');
  await writeFile(path.join(tmp, 'batch3'), ['-put ok.txt /b1/', 'bogus', 'pwd', ''].join('\n'));
  const usage = await client(['-b', 'batch3']);
  assert.is(usage.code, 2, usage.stderr);
  assert.not.match(usage.stdout, /\n\/\n/, 'pwd after the failure did not run');
  await writeFile(path.join(tmp, 'batch4'), ['-put ok.txt /b1/', 'pwd', ''].join('\n'));
  assert.is((await client(['-b', 'batch4'])).code, 0);
  const missing = await client(['-b', 'no-such-batch-file']);
  assert.is(missing.code, 4);
});

test('-b - and piped stdin behave the same', async () => {
  for (const args of [['-b', '-'], []]) {
    const run = await client(args, ['pwd', 'get /absent.bin', 'mkdir /after', ''].join('\n'));
    assert.is(run.code, 4, `${args.join(' ')}: ${run.stderr}`);
    assert.not.ok(
      await stat(path.join(root, 'after')).then(
        () => true,
        () => false,
      ),
    );
  }
  const ok = await client(['-b', '-'], ['pwd', '-rm /absent.bin', 'ls', ''].join('\n'));
  assert.is(ok.code, 0, ok.stderr);
});

test('put -r / get -r through the library, globs in put, get, rm, mput, mget, and -p', async () => {
  const src = path.join(tmp, 'site');
  await mkdir(path.join(src, 'css', 'empty'), { recursive: true });
  await writeFile(path.join(src, 'index.html'), '<html>');
  await writeFile(path.join(src, 'css', 'a b.css'), 'body{}');
  await writeFile(path.join(src, 'ünï.log'), 'log');
  // one client for the three (each would end the batch with its exit code if it failed)
  const tree = await client(['-b', '-'], ['put -r -v site /www/', 'put -r site /www/', 'get -r /www/site copy', ''].join('\n'));
  assert.is(tree.code, 0, tree.stderr);
  assert.match(tree.stdout, /uploaded css\/a b\.css/);
  assert.match(tree.stdout, /uploaded site to \/www\/site: 3 file\(s\), 3 folder\(s\) created/);
  assert.match(tree.stderr, /skipped 3 existing file\(s\) \(use -f to overwrite\)/, 'the second put -r');
  assert.equal((await readdir(path.join(tmp, 'copy'), { recursive: true })).sort(), (await readdir(src, { recursive: true })).sort());

  await mkdir(path.join(tmp, 'logs'));
  for (const n of ['a.log', 'b.log', 'c.txt']) await writeFile(path.join(tmp, 'logs', n), n);
  await utimes(path.join(tmp, 'logs', 'a.log'), 1_600_000_000, 1_600_000_000);
  const into = path.join(tmp, 'fetched');
  await mkdir(into);
  const globs = await client(
    ['-b', '-'],
    ['mkdir /logs', 'put -p logs/*.log /logs', 'mput logs/c.txt', 'get -p /logs/*.log fetched', ''].join('\n'),
  );
  assert.is(globs.code, 0, globs.stderr);
  assert.equal((await readdir(path.join(root, 'logs'))).sort(), ['a.log', 'b.log']);
  assert.is(Math.floor((await stat(path.join(root, 'logs', 'a.log'))).mtimeMs), 1_600_000_000_000);
  assert.is(await readFile(path.join(root, 'c.txt'), 'utf8'), 'c.txt');
  assert.equal((await readdir(into)).sort(), ['a.log', 'b.log']);
  assert.is(Math.floor((await stat(path.join(into, 'a.log'))).mtimeMs), 1_600_000_000_000);
  const mget = await client(['mget', '/logs/b.log', '/c.txt'], '', { cwd: into });
  assert.is(mget.code, 5, 'b.log exists locally: refused without -f');
  const none = await client(['get', '/logs/*.zip']);
  assert.is(none.code, 4);
  assert.match(none.stderr, /no remote file matches/);
  assert.is((await client(['rm', '/logs/*.log'])).code, 0);
  assert.equal(await readdir(path.join(root, 'logs')), []);
});

test('sync up and down, --dry-run prints the plan, --delete removes extras', async () => {
  const src = path.join(tmp, 'proj');
  await mkdir(path.join(src, 'lib'), { recursive: true });
  await writeFile(path.join(src, 'one.txt'), '1');
  await writeFile(path.join(src, 'lib', 'two.txt'), '2');
  // the same sync twice in one client: the second finds everything unchanged
  const twice = await client(['-b', '-'], ['sync proj /proj', 'sync proj /proj', ''].join('\n'));
  assert.is(twice.code, 0, twice.stderr);
  assert.match(
    twice.stdout,
    /synced proj to \/proj: 2 new, 0 changed, 0 unchanged, 0 deleted;[^]*synced proj to \/proj: 0 new, 0 changed, 2 unchanged/,
  );
  await writeFile(path.join(src, 'one.txt'), 'one!');
  await rm(path.join(src, 'lib', 'two.txt'));
  const dry = await client(['sync', '--dry-run', '--delete', 'proj', '/proj']);
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^~ one\.txt$/m);
  assert.match(dry.stdout, /^- lib\/two\.txt$/m);
  assert.ok(
    await stat(path.join(root, 'proj', 'lib', 'two.txt')).then(
      () => true,
      () => false,
    ),
    'a dry run changes nothing',
  );
  const back = path.join(tmp, 'proj-copy');
  // up, then down, in one client
  const real = await client(['-b', '-'], ['sync --delete --checksum proj /proj', `sync --down ${back} /proj`, ''].join('\n'));
  assert.is(real.code, 0, real.stderr);
  assert.match(real.stdout, /1 changed, 0 unchanged, 1 deleted/);
  assert.is(await readFile(path.join(back, 'one.txt'), 'utf8'), 'one!');
});

test('local paths start where the command was typed, also through npm run client (INIT_CWD)', async () => {
  const here = path.join(tmp, 'here');
  await mkdir(here);
  await writeFile(path.join(here, 'local.txt'), 'from INIT_CWD');
  const run = await client(['put', 'local.txt', '/from-init-cwd.txt'], '', {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { npm_lifecycle_event: 'client', INIT_CWD: here },
  });
  assert.is(run.code, 0, run.stderr);
  assert.is(await readFile(path.join(root, 'from-init-cwd.txt'), 'utf8'), 'from INIT_CWD');
});

test('a plain put cut off by Ctrl-C keeps its data; put -c resumes at N bytes and reports the rate of what moved', async () => {
  const big = path.join(tmp, 'big.bin');
  await writeFile(big, '');
  // sparse; the Ctrl-C lands within a 10 ms poll of the first 8 MiB arriving, 88 MiB before the end
  await truncate(big, 96 * 1024 ** 2);
  let received = 0;
  const onProgress = (p: { direction: string; bytes: number }) => {
    if (p.direction === 'upload') received = p.bytes;
  };
  server.metrics.on('progress', onProgress);
  const run = start(['put', 'big.bin', '/big.bin']);
  try {
    const until = Date.now() + TIMEOUT_MS;
    while (received < 8 * 1024 ** 2 && run.child.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    process.kill(run.child.pid!, 'SIGINT');
    const cut = await run.done;
    assert.is(cut.code, 130, cut.stderr);
  } finally {
    server.metrics.off('progress', onProgress);
    stop(run.child);
  }
  assert.not.ok(
    await stat(path.join(root, 'big.bin')).then(
      () => true,
      () => false,
    ),
    'nothing under the target name',
  );
  const resumed = await client(['put', '-c', 'big.bin', '/big.bin']);
  assert.is(resumed.code, 0, resumed.stderr);
  const m = /resumed at (\d+) bytes/.exec(resumed.stdout);
  assert.ok(m && Number(m[1]) > 0, resumed.stdout);
  assert.is((await stat(path.join(root, 'big.bin'))).size, 96 * 1024 ** 2);
  await rm(big);
});

test.run();
