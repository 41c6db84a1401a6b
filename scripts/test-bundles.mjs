// Pre-built test files, for `npm test`: every test file would otherwise start through tsx, whose
// loader (module hooks on a thread of their own, then every source file resolved and loaded through
// them) costs about half a second of CPU per process, and more in each worker thread the file starts.
// Instead the runner bundles the test files it is about to run in one esbuild build (shared code split
// into common chunks, about a second for the whole suite) and runs the bundles with plain node.
//
// What a bundle must keep from the sources:
// - `import.meta.url` in a source file is that file's URL, not the bundle's: tests locate fixtures,
//   scripts and the repository root with it (a plugin writes each module's own URL in).
// - Packages stay imports, resolved at run time as from the sources. A package that resolves to a
//   copy of its own (an example app's `node_modules`, such as its commander) is imported by its
//   absolute path, since from the bundle's folder the name would find the root's copy.
// - Stack traces point into the TypeScript sources (linked source maps, `--enable-source-maps`).
// Test files that spawn processes still spawn them as before (tsx, or the app bundles).
import { readFile, rm } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where the bundles of the test files are written. */
export function testBundleDir(root) {
  return join(root, 'node_modules', '.cache', 'fileshare-test-bundles');
}

/** The bundle that runs `name` (a test file's path relative to test/, with `/`). */
export function testBundlePath(root, name) {
  return join(testBundleDir(root), name.replace(/\.ts$/, '.mjs'));
}

/**
 * Bundle the test files `names` (relative to `root`/test); resolves when every bundle is written,
 * throws when esbuild fails (the runner then starts the files through tsx).
 */
export async function buildTestBundles(root, names) {
  const esbuild = await import('esbuild');
  const outdir = testBundleDir(root);
  await rm(outdir, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: names.map((name) => ({ in: join(root, 'test', name), out: name.replace(/\.ts$/, '') })),
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
    logLevel: 'silent',
    plugins: [sourcesAsWritten(root)],
  });
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
 * An esbuild plugin: `import.meta.url` in each of our source files (not in packages) is that
 * file's own URL, so that code which locates files next to its source works from a bundle too.
 */
export function importMetaUrlAsInSources() {
  const nodeModules = `${sep}node_modules${sep}`;
  return {
    name: 'fileshare-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        if (args.path.includes(nodeModules)) return undefined;
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const url = JSON.stringify(pathToFileURL(args.path).href);
        const loader = /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js';
        return { contents: source.replaceAll('import.meta.url', url), loader, resolveDir: join(args.path, '..') };
      });
    },
  };
}
