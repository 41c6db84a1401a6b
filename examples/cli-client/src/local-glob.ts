/** Expansion of local glob patterns (`put *.log`, `mput 'logs/*.txt'`), one path component at a time. */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { globMatcher, hasGlob } from 'fileshare';
import { CliError, ExitCode, UsageError, localError } from './errors.ts';
import { resolveLocal } from './paths.ts';

/**
 * The local paths matching `pattern` (absolute, sorted), or the pattern itself when it has no glob
 * syntax. `*`, `?`, `[...]` and `{a,b}` work in any component; `**` does not (use `put -r`).
 * @throws CliError (exit 4) when nothing matches
 */
export async function expandLocal(pattern: string): Promise<string[]> {
  if (!hasGlob(pattern)) return [resolveLocal(pattern)];
  const absolute = resolveLocal(pattern);
  const { root } = path.parse(absolute);
  const parts = absolute.slice(root.length).split(path.sep).filter(Boolean);
  if (parts.some((p) => p.includes('**')))
    throw new UsageError(`${pattern}: '**' is not supported for local paths (use put -r with a folder)`);
  let current = [root];
  for (const part of parts) {
    if (!hasGlob(part)) {
      current = current.map((dir) => path.join(dir, part));
      continue;
    }
    const match = globMatcher(part);
    const next: string[] = [];
    for (const dir of current) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw localError(err, dir);
      }
      for (const name of names.sort()) if (match(name)) next.push(path.join(dir, name));
    }
    current = next;
  }
  if (current.length === 0) throw new CliError(`no local file matches ${pattern}`, ExitCode.NOT_FOUND);
  return current;
}
