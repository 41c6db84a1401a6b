import { FileShareError } from '../errors.ts';
import type { Entry } from '../protocol/operations.ts';

/** Validate an Entry received from the server. @internal */
export function parseEntry(raw: unknown): Entry {
  const e = raw as Partial<Entry> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.name !== 'string' ||
    (e.type !== 'file' && e.type !== 'directory') ||
    typeof e.size !== 'number' ||
    typeof e.mtime !== 'number'
  ) {
    throw new FileShareError('EPROTO', 'the server sent a malformed entry');
  }
  return { name: e.name, type: e.type, size: e.size, mtime: e.mtime };
}
