/**
 * How a test starts one of our TypeScript programs as a process of its own (a server to SIGKILL,
 * a node of the cluster, a program inside a network namespace, an example app).
 *
 * Under `npm test` the runner has bundled those programs (the helper files marked
 * `// @test-process`, and the example apps) and maps each source file to its bundle in
 * FILESHARE_TEST_PROCESS_BUNDLES: the bundle starts with plain node, without tsx's loader, which
 * costs about half a second of CPU per process. Outside the runner (`node --import tsx
 * some.test.ts`) the program starts through tsx, from its source.
 *
 * @example
 * ```ts
 * spawn(process.execPath, [...nodeEntry(new URL('./fixtures/server.ts', import.meta.url)), root]);
 * ```
 */
import { fileURLToPath } from 'node:url';

const bundles = parseBundles(process.env.FILESHARE_TEST_PROCESS_BUNDLES);

/** The arguments of `node` that run `entry` (a path or file URL of a .ts file). */
export function nodeEntry(entry: string | URL): string[] {
  const path = entry instanceof URL || entry.startsWith('file:') ? fileURLToPath(entry) : entry;
  const bundle = bundles[path];
  return bundle ? ['--enable-source-maps', bundle] : ['--import', import.meta.resolve('tsx'), path];
}

function parseBundles(json: string | undefined): Record<string, string> {
  if (!json) return {};
  try {
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}
