/** Rendering of remote and local entries, shared by ls, lls and stat. */
import type { Entry } from 'fileshare';
import { formatBytes, formatTime } from '../format.ts';
import type { Colors } from '../io.ts';

/** `docs/` for a folder (coloured on a terminal), `a.bin` for a file. */
export function shortName(entry: Pick<Entry, 'name' | 'type'>, color: Colors): string {
  return entry.type === 'directory' ? color.bold(color.blue(`${entry.name}/`)) : entry.name;
}

/** `d        -  2024-05-01 12:00  docs/` / `-  12.3 MB  2024-05-01 12:00  a.bin`. */
export function longLine(entry: Entry, color: Colors): string {
  const dir = entry.type === 'directory';
  const size = dir ? '-' : formatBytes(entry.size);
  return `${dir ? 'd' : '-'} ${size.padStart(9)}  ${formatTime(entry.mtime)}  ${shortName(entry, color)}`;
}

/** The JSON form of `ls --json` and `stat --json`: the library's Entry, plus `path` when known. */
export function entryJson(entry: Entry, path?: string): Record<string, unknown> {
  return { name: entry.name, ...(path === undefined ? {} : { path }), type: entry.type, size: entry.size, mtime: entry.mtime };
}
