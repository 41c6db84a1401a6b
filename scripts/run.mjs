#!/usr/bin/env node
// Runs a TypeScript entry point of this repo (an example app or the benchmark) with tsx.
// - On a fresh clone it first installs the dependencies, so `npm start` works straight after cloning.
// - `import ... from 'fileshare'` in the examples resolves to this repo's src/ through the root
//   tsconfig's `paths`, whatever the working directory (TSX_TSCONFIG_PATH).
// - SIGINT / SIGTERM sent to this process are forwarded, so the app can shut down gracefully;
//   its exit code is ours.
// - Under `npm test` (FILESHARE_APP_BUNDLES=1) an app with a bundle the test runner has just built
//   runs from it, in this very process rather than in a child: same code, a fraction of the
//   start-up CPU (the app tests start the apps about a hundred times; scripts/app-bundles.mjs).
//   Signals sent to this process then reach the app itself, and its exit code is this process's.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundlePath } from './app-bundles.mjs';
import { ensureDependencies, root } from './ensure-deps.mjs';

ensureDependencies();

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs <entry.ts> [args...]');
  process.exit(2);
}
// resolve tsx from this repo, not from the caller's working directory
const tsx = import.meta.resolve('tsx');
const bundle = process.env.FILESHARE_APP_BUNDLES === '1' ? bundlePath(root, entry) : undefined;
if (bundle && existsSync(bundle)) {
  await runInProcess(bundle);
} else {
  runChild(['--import', tsx, resolve(root, entry)]);
}

/** Run the app's bundle here, as if node had been started with it. */
async function runInProcess(file) {
  process.setSourceMapsEnabled(true);
  process.argv = [process.argv[0], file, ...args];
  // as below for the child: an orphaned app shuts down as if sent SIGTERM
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(orphanWatch);
      process.kill(process.pid, 'SIGTERM');
    }
  }, 500);
  orphanWatch.unref();
  await import(pathToFileURL(file).href);
}

/** Run the app in a child process, forwarding signals to it and taking its exit code. */
function runChild(command) {
  const child = spawn(process.execPath, [...command, ...args], {
    stdio: 'inherit',
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      // Ctrl-C in a terminal already reaches the app (same process group): forwarding it again
      // would look like a second Ctrl-C. Signals sent to this process alone are forwarded.
      if (signal === 'SIGINT' && process.stdin.isTTY) return;
      child.kill(signal);
    });
  }
  // `kill <pid of npm start>` ends npm and its shell but not this process: when our parent is gone,
  // shut the app down as if it had been sent SIGTERM, rather than leave it running orphaned.
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(orphanWatch);
      child.kill('SIGTERM');
    }
  }, 500);
  orphanWatch.unref();
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
}
