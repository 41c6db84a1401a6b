/**
 * Workers run as plain JavaScript, not through the tsx loader.
 *
 * Why: tsx registers its module hooks on a loader thread with its own V8 isolate, which adds about
 * 38 MB to the resident set of every process (measured on Node 20: 42 MB for an idle plain script,
 * 80 MB for the same script under `--import tsx`). Peak RSS is one of the figures this suite
 * reports, with a 100 MB target, so the workers must not carry that overhead.
 *
 * At start-up the harness walks the import graph of every worker entry file (relative imports only;
 * packages resolve from node_modules as usual), transpiles each TypeScript file with
 * `typescript.transpileModule` (no type checking: `npx tsc --noEmit` does that) and writes it to
 * `bench/.build/run-<pid>/` mirroring the repository layout, with `.ts` import specifiers rewritten to `.js`.
 * Non-TypeScript relative imports (JSON) are copied. The package's own entry points (`fileshare`,
 * `fileshare/s3`, ..., which the optional backends import) are rewritten to the built files of the
 * sources tsconfig.json maps them to, as tsx would resolve them. `--tsx` skips this and runs
 * workers under tsx.
 */
import { mkdir, readFile, writeFile, copyFile, rm, access } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** The repository root: bench/src/build.ts is two folders below it. */
export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
/**
 * Where transpiled files go: one folder per harness process, so two runs never overwrite each
 * other's workers; removed when the harness exits. Inside the repository so that packages
 * resolve from its node_modules.
 */
export const buildRoot = path.join(repoRoot, 'bench', '.build', `run-${process.pid}`);

const compilerOptions: ts.CompilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
};

/** The package's own entry points (tsconfig.json `paths`): specifier → source file. */
async function selfEntries(): Promise<Map<string, string>> {
  const config = JSON.parse(await readFile(path.join(repoRoot, 'tsconfig.json'), 'utf8')) as {
    compilerOptions?: { paths?: Record<string, string[]> };
  };
  const entries = new Map<string, string>();
  for (const [specifier, [target]] of Object.entries(config.compilerOptions?.paths ?? {})) {
    if (target !== undefined && !specifier.includes('*')) entries.set(specifier, path.resolve(repoRoot, target));
  }
  return entries;
}

/** `outputText` with its imports of `specifier` (static, dynamic, re-exports) pointing at `replacement`. */
function rewriteSpecifier(outputText: string, specifier: string, replacement: string): string {
  const quoted = specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return outputText.replace(new RegExp(`(\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\bimport\\s+)(['"])${quoted}\\2`, 'g'), `$1$2${replacement}$2`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Resolve a relative specifier to a file on disk (`./x.ts`, or `./x.js` written for `./x.ts`). */
async function resolveRelative(fromFile: string, specifier: string): Promise<string | undefined> {
  const base = path.resolve(path.dirname(fromFile), specifier);
  const candidates = [base];
  if (base.endsWith('.js')) candidates.push(base.slice(0, -3) + '.ts');
  if (!path.extname(base)) candidates.push(base + '.ts', path.join(base, 'index.ts'));
  for (const c of candidates) if (await exists(c)) return c;
  return undefined;
}

function outputPath(source: string): string {
  const rel = path.relative(repoRoot, source);
  if (rel.startsWith('..')) throw new Error(`build: ${source} is outside the repository`);
  return path.join(buildRoot, rel.endsWith('.ts') ? rel.slice(0, -3) + '.js' : rel);
}

/**
 * Transpile the given entry files and everything they import relatively.
 * Returns a map from each entry's source path to its runnable JavaScript path.
 * An import that cannot be found is left to fail at run time in the worker (reported as its error).
 */
export async function buildWorkers(entries: readonly string[]): Promise<Map<string, string>> {
  await rm(buildRoot, { recursive: true, force: true });
  await mkdir(buildRoot, { recursive: true });
  process.once('exit', () => rmSync(buildRoot, { recursive: true, force: true }));
  // Node reads "type" from the nearest package.json: make the build folder ESM on its own
  // (a copied root package.json, if some file imports it, replaces this and is ESM as well).
  await writeFile(path.join(buildRoot, 'package.json'), '{ "type": "module" }\n');
  const self = await selfEntries();
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const out = outputPath(file);
    await mkdir(path.dirname(out), { recursive: true });
    if (!file.endsWith('.ts')) {
      await copyFile(file, out);
      continue;
    }
    const text = await readFile(file, 'utf8');
    let { outputText } = ts.transpileModule(text, { compilerOptions, fileName: file });
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      const own = self.get(ref.fileName);
      if (own === undefined) continue;
      let relative = path.relative(path.dirname(out), outputPath(own)).split(path.sep).join('/');
      if (!relative.startsWith('.')) relative = `./${relative}`;
      outputText = rewriteSpecifier(outputText, ref.fileName, relative);
      if (!seen.has(own)) queue.push(own);
    }
    await writeFile(out, outputText);
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = await resolveRelative(file, ref.fileName);
      if (target !== undefined && !seen.has(target)) queue.push(target);
    }
  }
  return new Map(entries.map((e) => [e, outputPath(e)]));
}
