// Pre-built test files, for `npm test`: every test file would otherwise start through tsx, whose
// loader (module hooks on a thread of their own, then every source file resolved and loaded through
// them) costs about half a second of CPU per process, and more in each worker thread the file starts.
// Instead the runner bundles the test files it is about to run in one esbuild build (shared code split
// into common chunks, about a second for the whole suite) and runs the bundles with plain node.
//
// What a bundle must keep from the sources:
// - `import.meta.url` (`.dirname`, `.filename`) in a source file is that file's, not the bundle's:
//   tests locate fixtures, scripts and the repository root with it (a plugin writes each one in).
// - Packages stay imports, resolved at run time as from the sources. A package that resolves to a
//   copy of its own (an example app's `node_modules`, such as its commander) is imported by its
//   absolute path, since from the bundle's folder the name would find the root's copy.
// - Stack traces point into the TypeScript sources (linked source maps, `--enable-source-maps`).
// - A helper file that tests start as a process of its own (a server to SIGKILL, a node of the
//   cluster test, a program inside a network namespace) says so with a line `// @test-process: <by
//   whom>` in its first 30 lines; it is bundled too, and test/node-entry.ts starts it from its bundle.
//
// Each run writes into a folder of its own (named after its PID) and removes it at the end, so that
// two runs in one checkout do not pull the files from under each other.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Bundle the test files `names` (paths relative to `root`/test, with `/`) and every `@test-process`
 * file under test/, in a fresh folder. Resolves to where each bundle is: `forTest(name)` for a test
 * file, `processes` mapping each process file's absolute path to its bundle, and `remove()`.
 * Throws when esbuild fails (the runner then starts everything through tsx).
 */
export async function buildTestBundles(root, names) {
  const esbuild = await import('esbuild');
  const parent = join(root, 'node_modules', '.cache', 'fileshare-test-bundles');
  removeStale(parent);
  const outdir = join(parent, String(process.pid));
  rmSync(outdir, { recursive: true, force: true });
  const testDir = join(root, 'test');
  const processFiles = findProcessFiles(testDir).map((path) => relative(testDir, path).split(sep).join('/'));
  const out = (name) => join(outdir, name.replace(/\.ts$/, '.mjs'));
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: [...new Set([...names, ...processFiles])].map((name) => ({
        in: join(testDir, name),
        out: name.replace(/\.ts$/, ''),
      })),
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      tsconfig: join(root, 'tsconfig.json'),
      sourcemap: 'linked',
      // node reads a bundle's whole map at its start: without the sources' text, which stack
      // traces do not need (they point at the sources on disk)
      sourcesContent: false,
      logLevel: 'silent',
      plugins: [sourcesAsWritten(root)],
    });
  } catch (err) {
    rmSync(outdir, { recursive: true, force: true });
    throw err;
  }
  return {
    forTest: out,
    processes: Object.fromEntries(processFiles.map((name) => [join(testDir, name), out(name)])),
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Remove the folders of earlier runs whose process is gone (a run killed before its cleanup). */
function removeStale(parent) {
  if (!existsSync(parent)) return;
  for (const entry of readdirSync(parent)) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) continue;
    rmSync(join(parent, entry), { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The helper files under `dir` marked `// @test-process`. */
function findProcessFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findProcessFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      const head = readFileSync(path, 'utf8').split('\n', 30).join('\n');
      if (/^\s*\/\/\s*@test-process\b/m.test(head)) found.push(path);
    }
  }
  return found;
}

/** The plugin that keeps `import.meta.url` and package resolution as they are in the sources. */
function sourcesAsWritten(root) {
  const sourceUrls = importMetaUrlAsInSources();
  const nodeModules = `${sep}node_modules${sep}`;
  const rootModules = join(root, 'node_modules') + sep;
  return {
    name: 'fileshare-sources-as-written',
    setup(build) {
      // a bare specifier (a package, not a relative or absolute path)
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.inner || args.path.startsWith('node:')) return undefined;
        const found = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: { inner: true },
        });
        if (found.errors.length > 0) return { errors: found.errors };
        // our own code (tsconfig paths such as `fileshare`) is bundled; packages are not
        if (found.external || !found.path.includes(nodeModules)) return found;
        const rootCopy = found.path.startsWith(rootModules) && !found.path.slice(rootModules.length).includes(nodeModules);
        return { path: rootCopy ? args.path : found.path, external: true };
      });
      sourceUrls.setup(build);
    },
  };
}

/**
 * An esbuild plugin: `import.meta.url` (and `.dirname`, `.filename`) in each of our source files (not
 * in packages) is that file's own, so that code which locates files next to its source works from a
 * bundle too.
 */
export function importMetaUrlAsInSources() {
  const nodeModules = `${sep}node_modules${sep}`;
  return {
    name: 'fileshare-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        if (args.path.includes(nodeModules)) return undefined;
        const source = await readFile(args.path, 'utf8');
        if (!/\bimport\.meta\.(url|dirname|filename)\b/.test(source)) return undefined;
        const own = { url: pathToFileURL(args.path).href, dirname: dirname(args.path), filename: args.path };
        const contents = source.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, key) => JSON.stringify(own[key]));
        const loader = /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js';
        return { contents, loader, resolveDir: dirname(args.path) };
      });
    },
  };
}
