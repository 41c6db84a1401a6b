#!/usr/bin/env node
// The `fileshare-client` command: runs ../src/main.ts with tsx, as scripts/run.mjs does for
// `npm run client` (the root tsconfig maps `import ... from 'fileshare'` to this repo's src/).
// Signals are forwarded so Ctrl-C reaches the client (it cancels the running transfer), and the
// client's exit code is ours.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const app = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(app, '..', '..');
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, join(app, 'src', 'main.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 15) : 1)));
