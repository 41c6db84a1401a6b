/**
 * scripts/run.mjs, the runner behind `npm start`: when its parent (npm and its shell) is killed,
 * the app must not be left running orphaned; it is shut down as if sent SIGTERM.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** PIDs of processes started by this test (their command line names its temp folder). */
function leftovers(dir: string): number[] {
  const result = spawnSync('pgrep', ['-f', dir], { encoding: 'utf8' });
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

// Both ways run.mjs starts an app: as a child through tsx (`npm start`), and in its own process
// from the bundle `npm test` built (FILESHARE_APP_BUNDLES=1), which the other app tests use.
for (const [mode, bundles] of [
  ['through tsx in a child', '0'],
  ['from the bundle, in process', '1'],
] as const) {
  test(`killing the parent of run.mjs (as \`kill <npm pid>\` does) stops the app gracefully (${mode})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileshare-run-'));
    // `; true` keeps sh from exec'ing the runner: sh stands for npm, the parent that gets killed
    const command = `"${process.execPath}" scripts/run.mjs examples/server/src/main.ts --host 127.0.0.1 --port 0 --root "${dir}/data" --users "${dir}/users.json"; true`;
    const shell = spawn('sh', ['-c', command], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', FILESHARE_APP_BUNDLES: bundles },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    shell.stdout.on('data', (d) => (output += d));
    shell.stderr.on('data', (d) => (output += d));
    try {
      const deadline = Date.now() + 30_000;
      let port = 0;
      while (!port && Date.now() < deadline) {
        port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1] ?? 0);
        if (!port) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(port, `the server did not start: ${output}`);
      assert.ok(await portIsOpen(port));
      shell.kill('SIGKILL'); // the parent dies without passing anything on
      const stopBy = Date.now() + 15_000;
      while ((await portIsOpen(port)) && Date.now() < stopBy) await new Promise((r) => setTimeout(r, 200));
      assert.not.ok(await portIsOpen(port), 'the app is still serving after its parent was killed');
    } finally {
      shell.kill('SIGKILL');
      // if the app was left behind (the failure this test catches), it holds our pipes open: stop it,
      // by PID, found through its unique temp folder in the command line, so the suite cannot hang
      for (const pid of leftovers(dir)) process.kill(pid, 'SIGKILL');
      shell.stdout.destroy();
      shell.stderr.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test("SIGTERM sent to run.mjs reaches the app in its child: a graceful stop, and its exit code 0 is run.mjs's", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fileshare-run-'));
  const runner = spawn(
    process.execPath,
    [
      'scripts/run.mjs',
      'examples/server/src/main.ts',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--root',
      `${dir}/data`,
      '--users',
      `${dir}/users.json`,
    ],
    { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FILESHARE_APP_BUNDLES: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  runner.stdout.on('data', (d) => (output += d));
  runner.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!/listening on 127\.0\.0\.1:\d+/.test(output) && Date.now() < deadline && runner.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(output, /listening on/, 'the server did not start');
    runner.kill('SIGTERM'); // run.mjs's PID: it forwards the signal to the app
    // cleared once the app has exited: a pending timer would keep this process alive for 15 s more
    let late: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'late'>((r) => (late = setTimeout(() => r('late'), 15_000)))]);
    clearTimeout(late);
    assert.is(code, 0, output);
    assert.match(output, /shutting down \(SIGTERM/);
    assert.match(output, /stopped/);
  } finally {
    runner.kill('SIGKILL');
    for (const pid of leftovers(dir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
