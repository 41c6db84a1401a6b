#!/usr/bin/env node
// Works around npm bug #4828 (https://github.com/npm/cli/issues/4828): npm writes package-lock.json
// without the optional native packages of other platforms for some dependencies (here rollup's,
// pulled in by tsup), and `npm ci` then refuses the lock as "not in sync". This adds the missing
// entries from the registry's metadata (version, integrity, os, cpu, libc), as npm itself would.
// Run it after any `npm install` that changes the lock: `node scripts/complete-lockfile.mjs`.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let added = 0;

for (const [where, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    // npm looks for the package beside its dependent, then up the tree; a top-level entry is enough
    const nested = `${where}/node_modules/${name}`;
    const top = `node_modules/${name}`;
    if (lock.packages[nested] || lock.packages[top]) continue;
    const meta = view(name, version) ?? platformOf(name, version);
    if (!meta) throw new Error(`cannot complete ${name}@${version}: not in the registry, and not a platform package this script knows`);
    const record = { version: meta.version, ...(meta.dist?.integrity ? { integrity: meta.dist.integrity } : {}) };
    for (const key of ['cpu', 'os', 'libc']) if (meta[key]) record[key] = [].concat(meta[key]);
    if (entry.dev) record.dev = true;
    if (meta.license) record.license = meta.license;
    record.optional = true;
    if (meta.engines) record.engines = meta.engines;
    lock.packages[top] = record;
    added++;
    console.log(`added ${top}@${meta.version}`);
  }
}

/** Registry metadata of name@version, or undefined when the registry does not have it. */
function view(name, version) {
  try {
    return JSON.parse(
      execFileSync(npm, ['view', `${name}@${version}`, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
  } catch {
    return undefined;
  }
}

/**
 * Registries that mirror only some platforms lack the other platforms' native packages. npm never
 * installs those here (their os/cpu/libc do not match), so the lock needs only their version and
 * platform, which rollup's package names spell out: @rollup/rollup-<os>-<cpu>[-<abi>].
 */
function platformOf(name, version) {
  const m =
    /^@rollup\/rollup-(android|darwin|freebsd|linux|openbsd|openharmony|win32)-(arm64|arm|x64|ia32|loong64|ppc64|riscv64|s390x)(?:-(\w+))?$/.exec(
      name,
    );
  if (!m) return undefined;
  const [, os, cpu, abi] = m;
  const libc = abi?.startsWith('musl') ? ['musl'] : abi?.startsWith('gnu') && os === 'linux' ? ['glibc'] : undefined;
  return { version, os: [os], cpu: [cpu], ...(libc ? { libc } : {}), license: 'MIT' };
}

// keep npm's order: keys sorted, the root package first
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added ? `package-lock.json: ${added} missing optional entries added` : 'package-lock.json: complete');
