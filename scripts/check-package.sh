#!/usr/bin/env bash
# Proves the published package works: build, pack, lint the tarball (publint, are-the-types-wrong),
# then install it into a fresh project and use it there through ESM `import`, CJS `require` and
# TypeScript (node16 module resolution, both module kinds): a real server/client round trip each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
npm run -s build >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "packed $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(tar tzf "$tarball" | wc -l) files)"
npx --no-install publint run "$tarball" --strict
npx --no-install attw "$tarball" --profile node16 --format table-flipped

app="$work/app"
mkdir -p "$app"
cd "$app"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$tarball" "typescript@$(node -p "require('$root/node_modules/typescript/package.json').version")" "@types/node@20" >/dev/null

cat > esm.mjs <<'JS'
import { Readable, Writable } from 'node:stream';
import { FileShareError } from 'fileshare';
import { createTestServer } from 'fileshare/testing';
const t = await createTestServer({ users: { alice: 'pw' } });
try {
  const client = await t.connect('alice');
  await client.upload(Readable.from([Buffer.from('hello from esm')]), '/esm.txt');
  const chunks = [];
  await client.download('/esm.txt', new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }));
  if (Buffer.concat(chunks).toString() !== 'hello from esm') throw new Error('round trip mismatch');
  const err = await client.stat('/missing').catch((e) => e);
  if (!(err instanceof FileShareError) || err.code !== 'ENOENT') throw new Error('expected ENOENT');
  console.log('esm import: ok');
} finally { await t.close(); }
JS
node esm.mjs

# the folder calls and globs (picomatch, a runtime dependency) from the tarball, ESM and CJS
cat > folders.mjs <<'JS'
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { globRemote, matchesGlob } from 'fileshare';
import { createTestServer } from 'fileshare/testing';
const local = mkdtempSync(path.join(os.tmpdir(), 'pkg-folders-'));
mkdirSync(path.join(local, 'a', 'b'), { recursive: true });
writeFileSync(path.join(local, 'a', 'b', 'x.log'), 'x');
writeFileSync(path.join(local, 'top.txt'), 'top');
const t = await createTestServer({ users: { alice: 'pw' } });
try {
  const client = await t.connect('alice');
  const up = await client.uploadDir(local, '/tree');
  if (up.transferred.length !== 2) throw new Error(`uploadDir moved ${up.transferred.length} files`);
  const again = await client.sync(local, '/tree', { direction: 'up', compare: 'sha256' });
  if (again.transferred.length !== 0 || again.plan.unchanged.length !== 2) throw new Error('sync of an unchanged tree moved files');
  const logs = await globRemote(client, '/tree/**/*.log');
  if (logs.length !== 1 || !matchesGlob('a/b/x.log', '**/*.log')) throw new Error('globs');
  await client.downloadDir('/tree', path.join(local, 'copy'));
  console.log('folders and globs (esm): ok');
} finally { await t.close(); }
JS
node folders.mjs
node -e "const { matchesGlob } = require('fileshare'); if (!matchesGlob('a.log', '*.log')) throw new Error('cjs glob'); console.log('globs (cjs): ok')"

cat > cjs.cjs <<'JS'
const { Readable } = require('node:stream');
const { FileShareServer, FileShareClient, MemoryAuthProvider } = require('fileshare');
const { createTestServer } = require('fileshare/testing');
(async () => {
  if (typeof FileShareServer !== 'function' || typeof FileShareClient !== 'function' || typeof MemoryAuthProvider !== 'function') throw new Error('missing exports');
  const t = await createTestServer({ users: { bob: 'pw' } });
  try {
    const client = await t.connect('bob');
    await client.upload(Readable.from([Buffer.from('hello from cjs')]), '/cjs.txt');
    const list = await client.list('/');
    if (list.length !== 1 || list[0].name !== 'cjs.txt') throw new Error('unexpected listing');
    console.log('cjs require: ok');
  } finally { await t.close(); }
})().catch((e) => { console.error(e); process.exit(1); });
JS
node cjs.cjs

cat > types.mts <<'TS'
import { FileShareClient, type Entry, type FileShareErrorCode, type TransferResult } from 'fileshare';
import { createTestServer, type TestServer } from 'fileshare/testing';
const client = new FileShareClient({ host: '127.0.0.1', port: 4450 });
const listing: Promise<Entry[]> = client.list('/');
const result: Promise<TransferResult> = client.upload('./a', '/a', { overwrite: true });
const code: FileShareErrorCode = 'EINTEGRITY';
const server: Promise<TestServer> = createTestServer();
void [listing, result, code, server];
TS
cat > types.cts <<'TS'
import fileshare = require('fileshare');
const client: fileshare.FileShareClient = new fileshare.FileShareClient({ port: 4450 });
client.metrics.on('ping', (e) => { const ms: number = e.rttMs; void ms; });
TS
npx --no-install tsc --strict --noEmit --module node16 --moduleResolution node16 --types node types.mts types.cts
echo "typescript (node16, ESM and CJS): ok"

# The optional backends: their entry points load once their peer dependencies are installed, share
# the main entry's classes, and type-check.
npm install --no-audit --no-fund --silent "pg@$(node -p "require('$root/node_modules/pg/package.json').version")" \
  "@types/pg@$(node -p "require('$root/node_modules/@types/pg/package.json').version")" \
  "hash-wasm@$(node -p "require('$root/node_modules/hash-wasm/package.json').version")" \
  "@aws-sdk/client-s3@$(node -p "require('$root/node_modules/@aws-sdk/client-s3/package.json').version")" >/dev/null
cat > backends.mjs <<'JS'
import { S3Storage } from 'fileshare/s3';
import { PostgresAuthProvider, PostgresSharedState, migrate } from 'fileshare/postgres';
const storage = new S3Storage({ bucket: 'b', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, requestTimeout: 500 });
const err = await storage.stat('/x').catch((e) => e);
const { FileShareError } = await import('fileshare');
if (!(err instanceof FileShareError)) throw new Error(`expected a FileShareError from fileshare/s3, got ${err}`);
storage.client.destroy();
if (typeof PostgresAuthProvider !== 'function' || typeof PostgresSharedState !== 'function' || typeof migrate !== 'function') throw new Error('missing exports');
console.log('fileshare/s3 and fileshare/postgres (esm): ok');
JS
node backends.mjs
node -e "const { S3Storage } = require('fileshare/s3'); const { PostgresAuthProvider } = require('fileshare/postgres'); if (typeof S3Storage !== 'function' || typeof PostgresAuthProvider !== 'function') throw new Error('missing'); console.log('fileshare/s3 and fileshare/postgres (cjs): ok')"
cat > backends.mts <<'TS'
import { S3Storage, type S3StorageOptions } from 'fileshare/s3';
import { PostgresAuthProvider, PostgresSharedState } from 'fileshare/postgres';
import { FileShareServer, type Storage } from 'fileshare';
const options: S3StorageOptions = { bucket: 'b', partSize: 8 * 1024 * 1024 };
const root: Storage = new S3Storage(options);
const server = new FileShareServer({ root, auth: new PostgresAuthProvider({ pool: 'postgres://x' }), sharedState: new PostgresSharedState({ pool: 'postgres://x' }) });
void server;
TS
npx --no-install tsc --strict --noEmit --module node16 --moduleResolution node16 --types node backends.mts
echo "typescript (backends): ok"
