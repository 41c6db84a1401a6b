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

test('killing the parent of run.mjs (as `kill <npm pid>` does) stops the app gracefully', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fileshare-run-'));
  // `; true` keeps sh from exec'ing the runner: sh stands for npm, the parent that gets killed
  const command = `"${process.execPath}" scripts/run.mjs examples/server/src/main.ts --host 127.0.0.1 --port 0 --root "${dir}/data" --users "${dir}/users.json"; true`;
  const shell = spawn('sh', ['-c', command], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
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

test.run();
