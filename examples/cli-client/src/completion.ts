/**
 * Tab completion for the shell (node:readline's async `completer`): command names first, then
 * remote or local paths depending on the command and argument position, options after a `-`.
 * Remote folders are listed on the server, cached for a few seconds so repeated tabs are instant.
 */
import { readdir } from 'node:fs/promises';
import type { AsyncCompleter } from 'node:readline';
import type { Entry, FileShareClient } from 'fileshare';
import { COMMANDS, findCommand } from './commands/index.ts';
import type { CompletionKind } from './commands/types.ts';
import { resolveLocal, resolveRemote } from './paths.ts';
import { escapeWord, tokenize } from './tokenize.ts';

const CACHE_MS = 5000;

/** Listings of remote folders, kept briefly; cleared after every command (it may have changed them). */
export class ListingCache {
  private readonly entries = new Map<string, { at: number; listing: Promise<Entry[]> }>();
  constructor(private readonly client: FileShareClient) {}

  list(dir: string): Promise<Entry[]> {
    const hit = this.entries.get(dir);
    if (hit && performance.now() - hit.at < CACHE_MS) return hit.listing;
    const listing = this.client.list(dir).catch(() => [] as Entry[]);
    this.entries.set(dir, { at: performance.now(), listing });
    return listing;
  }

  clear(): void {
    this.entries.clear();
  }
}

interface Candidate {
  readonly word: string;
  /** A folder: completion continues inside it, so no space is added. */
  readonly dir: boolean;
}

export function createCompleter(cache: ListingCache, getCwd: () => string): AsyncCompleter {
  return (line, callback) => {
    complete(line, cache, getCwd).then(
      (result) => callback(null, result),
      () => callback(null, [[], line]),
    );
  };
}

/** `[completions, the text they replace]`, as readline expects. */
export async function complete(line: string, cache: ListingCache, getCwd: () => string): Promise<[string[], string]> {
  const t = tokenize(line);
  const before = t.endsInWord ? t.words.slice(0, -1) : t.words;
  const partial = t.endsInWord ? t.words[t.words.length - 1]! : '';
  let candidates: Candidate[];
  if (before.length === 0) {
    candidates = commandNames(partial);
  } else {
    const spec = findCommand(before[0]!);
    if (!spec) return [[], t.partialRaw];
    if (partial.startsWith('-')) {
      candidates = (spec.options ?? [])
        .flatMap((o) => o.flags.split(/[ ,]+/).filter((f) => f.startsWith('-')))
        .filter((f) => f.startsWith(partial))
        .map((word) => ({ word, dir: false }));
    } else {
      const position = before.slice(1).filter((w) => !w.startsWith('-')).length;
      const kinds = spec.complete ?? [];
      const kind: CompletionKind = kinds[Math.min(position, kinds.length - 1)] ?? 'none';
      candidates = await completeKind(kind, partial, cache, getCwd());
    }
  }
  const words = candidates.map((c) => escapeWord(c.word) + (candidates.length === 1 && !c.dir ? ' ' : ''));
  return [words, t.partialRaw];
}

function commandNames(prefix: string): Candidate[] {
  return COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])])
    .filter((n) => n.startsWith(prefix))
    .sort()
    .map((word) => ({ word, dir: false }));
}

async function completeKind(kind: CompletionKind, partial: string, cache: ListingCache, cwd: string): Promise<Candidate[]> {
  if (kind === 'none') return [];
  if (kind === 'command') return commandNames(partial);
  // complete the last path component inside the folder typed so far (`docs/re` → list `docs/`)
  const slash = partial.lastIndexOf('/');
  const folderTyped = slash >= 0 ? partial.slice(0, slash + 1) : '';
  const prefix = partial.slice(slash + 1);
  const dirsOnly = kind.endsWith('-dir');
  let names: { name: string; dir: boolean }[];
  if (kind.startsWith('remote')) {
    const entries = await cache.list(resolveRemote(cwd, folderTyped || '.'));
    names = entries.map((e) => ({ name: e.name, dir: e.type === 'directory' }));
  } else {
    const entries = await readdir(resolveLocal(folderTyped || '.'), { withFileTypes: true }).catch(() => []);
    names = entries.map((e) => ({ name: e.name, dir: e.isDirectory() }));
  }
  return (
    names
      .filter((n) => n.name.startsWith(prefix) && (!dirsOnly || n.dir))
      // hide dot files unless asked for, as shells do
      .filter((n) => prefix.startsWith('.') || !n.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((n) => ({ word: `${folderTyped}${n.name}${n.dir ? '/' : ''}`, dir: n.dir }))
  );
}
