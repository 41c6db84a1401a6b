/**
 * Glob patterns over remote (and relative local) POSIX paths: `*` and `?` within one path
 * component, `[...]` character classes, `**` across components, `{a,b}` alternatives. Matching is
 * picomatch's (bash semantics, no dependencies of its own); this module adds expansion against a
 * remote tree through a client's `list`.
 * @module
 */
import picomatch from 'picomatch';
import type { Entry } from '../storage/types.ts';
import { throwIfAborted } from './abort.ts';

/** Options of {@link globMatcher} and {@link matchesGlob}. */
export interface GlobOptions {
  /** Let `*`, `?` and `[...]` match a leading `.` (hidden files), as `shopt -s dotglob`. @default false */
  readonly dot?: boolean;
  /** Match case-insensitively. @default false */
  readonly nocase?: boolean;
  /** A pattern without a slash matches the last component at any depth (`*.log` matches `a/b.log`), as in rsync and `.gitignore`. @default false */
  readonly matchBase?: boolean;
}

/** Bash writes a negated class `[!a-z]`; picomatch reads `!` there literally and wants `[^a-z]`. */
function bashClasses(pattern: string): string {
  return pattern.replace(/(^|[^\\])\[!/g, '$1[^');
}

/** Does `pattern` contain glob syntax (an unescaped `*`, `?`, `[` or `{`)? */
export function hasGlob(pattern: string): boolean {
  return /(^|[^\\])[*?[{]/.test(pattern);
}

/**
 * A compiled matcher for one pattern or several (a path matches if any matches).
 * @example
 * ```ts
 * const isLog = globMatcher(['*.log', 'logs/**']);
 * isLog('app.log'); // true
 * isLog('logs/2024/a.txt'); // true
 * isLog('src/app.log'); // false: `*` stays within one component
 * ```
 */
export function globMatcher(patterns: string | readonly string[], options: GlobOptions = {}): (path: string) => boolean {
  const given = typeof patterns === 'string' ? [patterns] : [...patterns];
  for (const p of given) if (typeof p !== 'string' || p === '') throw new TypeError('a glob pattern must be a non-empty string');
  const list = given.map(bashClasses);
  if (list.length === 0) return () => false;
  const pm = { dot: options.dot === true, nocase: options.nocase === true };
  if (!options.matchBase) return picomatch(list, pm);
  // done here rather than with picomatch's own `basename`, which also cuts patterns that have slashes
  const byName = list.filter((p) => !p.includes('/'));
  const byPath = list.filter((p) => p.includes('/'));
  const name = byName.length > 0 ? picomatch(byName, pm) : () => false;
  const full = byPath.length > 0 ? picomatch(byPath, pm) : () => false;
  return (p: string) => full(p) || name(p.slice(p.lastIndexOf('/') + 1));
}

/** Does `path` match the glob `pattern`? Compiles the pattern on each call: prefer {@link globMatcher} in loops. */
export function matchesGlob(path: string, pattern: string | readonly string[], options: GlobOptions = {}): boolean {
  return globMatcher(pattern, options)(path);
}

/** A remote path that matched a pattern, with its entry. */
export interface GlobMatch {
  /** The absolute remote path (`/a/b.log`). */
  readonly path: string;
  /** Its metadata, as listed. */
  readonly entry: Entry;
}

/** What {@link globRemote} needs of a client: its `list`. */
export interface GlobListing {
  /** The entries of a remote folder. */
  list(dir: string, options?: { signal?: AbortSignal }): Promise<Entry[]>;
}

/** Options of {@link globRemote}. */
export interface GlobRemoteOptions extends GlobOptions {
  /** Stop listing: rejects with `EABORTED`. */
  readonly signal?: AbortSignal;
  /** Largest number of folders listed for one `**` expansion, a bound against huge trees. @default 100000 */
  readonly maxFolders?: number;
}

/**
 * Expand a glob against the remote tree: `'/logs/*.log'`, `'**\/*.tmp'`. Relative patterns are
 * relative to `cwd`. Only the folders the pattern can reach are listed (the literal leading part is
 * not). Resolves to the matches sorted by path; a pattern without glob syntax resolves to itself if
 * it exists. Folders under the temporary names of uploads in progress are never listed by servers.
 * @throws ENOENT when the literal leading folder does not exist
 */
export async function globRemote(client: GlobListing, pattern: string, cwd = '/', options: GlobRemoteOptions = {}): Promise<GlobMatch[]> {
  if (typeof pattern !== 'string' || pattern === '') throw new TypeError('a glob pattern must be a non-empty string');
  const absolute = pattern.startsWith('/') ? pattern : `${cwd.replace(/\/+$/, '')}/${pattern}`;
  const parts = absolute.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return []; // the root itself is no match of a pattern
  // the literal prefix: folders before the first component with glob syntax
  let base = '';
  let i = 0;
  while (i < parts.length - 1 && !hasGlob(parts[i]!)) base += `/${parts[i++]}`;
  const rest = parts.slice(i);
  const full = `${base}/${rest.join('/')}`;
  const isMatch = globMatcher(full.replace(/^\//, ''), options);
  const deep = rest.some((p) => p.includes('**'));
  const depth = rest.length;
  const maxFolders = options.maxFolders ?? 100_000;
  let listed = 0;
  const out: GlobMatch[] = [];
  const visit = async (dir: string, level: number): Promise<void> => {
    throwIfAborted(options.signal);
    if (++listed > maxFolders) throw new RangeError(`the pattern ${pattern} reaches more than ${maxFolders} folders`);
    const entries = await client.list(dir || '/', options.signal ? { signal: options.signal } : undefined);
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (isMatch(path.slice(1))) out.push({ path, entry });
      if (entry.type === 'directory' && (deep || level + 1 < depth)) await visit(path, level + 1);
    }
  };
  await visit(base, 0);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
