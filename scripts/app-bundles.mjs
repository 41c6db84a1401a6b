// Pre-built bundles of the example apps, for the test suite: the app tests start the apps as
// child processes some forty times, and tsx compiling every app's sources at each start cost about
// two seconds of CPU per process. `npm test` builds the bundles once (esbuild, well under a second)
// and sets FILESHARE_APP_BUNDLES=1, which tells scripts/run.mjs to start a bundle instead of the
// TypeScript entry point when one exists. Without that variable run.mjs always runs the sources.
//
// A bundle lives in its app's own node_modules/.cache, so that the app's dependencies resolve from
// the app's folder exactly as they do for the sources, and `import.meta.url` in each source file
// stays that file's URL (perf-graph serves its page from the folder next to its source).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { importMetaUrlAsInSources } from './test-bundles.mjs';

/** Entry points (relative to the repository root) that are bundled for the tests. */
export const BUNDLED_APPS = ['examples/server/src/main.ts', 'examples/cli-client/src/main.ts', 'examples/perf-graph/src/main.ts'];

/** Where the bundle of `entry` (an absolute path or one relative to `root`) lives. */
export function bundlePath(root, entry) {
  const file = resolve(root, entry);
  const parts = relative(root, file).split(sep);
  if (parts[0] !== 'examples' || parts.length < 3) return undefined;
  const app = join(root, parts[0], parts[1]);
  const name = relative(app, file).split(sep).join('__').replace(/\.ts$/, '.mjs');
  return join(app, 'node_modules', '.cache', 'fileshare-bundle', name);
}

/** Build every bundle; resolves to the entries built, throws when esbuild fails. */
export async function buildAppBundles(root) {
  const esbuild = await import('esbuild');
  await Promise.all(
    BUNDLED_APPS.map(async (entry) => {
      const outdir = dirname(bundlePath(root, entry));
      const built = await esbuild.build({
        entryPoints: [{ in: join(root, entry), out: basename(bundlePath(root, entry), '.mjs') }],
        outdir,
        outExtension: { '.js': '.mjs' },
        bundle: true,
        // what the sources load with import() (the cert command's selfsigned, the database
        // commands' pg, the shell, playwright) stays a chunk of its own, loaded when needed: in one
        // file, a package a lazily loaded module imports becomes an import at the top of the bundle,
        // and the start of every run would load it (a third of a second for the server app)
        splitting: true,
        chunkNames: 'chunks/[name]-[hash]',
        platform: 'node',
        format: 'esm',
        target: 'node20',
        // `fileshare` maps to src/ through the root tsconfig's paths and is bundled; so are the
        // few small packages every start loads (STARTUP_PACKAGES); other dependencies stay imports,
        // resolved from the app's folder
        tsconfig: join(root, 'tsconfig.json'),
        // CommonJS packages bundled into ESM call require() for Node's built-in modules
        banner: {
          js: "import { createRequire as __fileshareRequire } from 'node:module'; const require = __fileshareRequire(import.meta.url);",
        },
        // in a file of its own: an inline map is read and decoded with the code at every start;
        // without the sources' text, which stack traces do not need (the sources are on disk)
        sourcemap: 'linked',
        sourcesContent: false,
        logLevel: 'silent',
        metafile: true,
        plugins: [startupPackagesBundled(), importMetaUrlAsInSources()],
      });
      removeOtherChunks(join(outdir, 'chunks'), built.metafile, root);
    }),
  );
  return BUNDLED_APPS;
}

/**
 * Packages loaded at every start of an app, bundled in: as separate CommonJS files, Node resolved,
 * read and scanned each one (for its export names) at every start, a tenth of a client command's
 * start-up CPU. Packages loaded only for some commands (pg, selfsigned, playwright-core, the
 * password prompt, the progress bar) and bcryptjs (which the bcrypt threads load by its path)
 * stay imports.
 */
const STARTUP_PACKAGES = new Set(['commander', 'picocolors', 'picomatch', 'eventemitter3']);

/** The esbuild plugin that keeps every package but STARTUP_PACKAGES an import. */
function startupPackagesBundled() {
  return {
    name: 'fileshare-startup-packages',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:') || args.path === 'fileshare' || args.path.startsWith('fileshare/')) return undefined;
        const name = args.path.startsWith('@') ? args.path.split('/', 2).join('/') : args.path.split('/', 1)[0];
        // a file inside a bundled package (its own relative requires never get here)
        if (STARTUP_PACKAGES.has(name)) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
}

/** Remove the chunks of earlier builds (their names carry a hash of their content). */
function removeOtherChunks(dir, metafile, root) {
  const current = new Set(Object.keys(metafile.outputs).map((path) => resolve(root, path)));
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!current.has(path)) rmSync(path, { force: true });
  }
}

/** Remove the bundles (a stale bundle is never used without FILESHARE_APP_BUNDLES, but tidy up). */
export function removeAppBundles(root) {
  for (const entry of BUNDLED_APPS) {
    const path = bundlePath(root, entry);
    if (path && existsSync(path)) rmSync(dirname(path), { recursive: true, force: true });
  }
}
