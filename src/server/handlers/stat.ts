import { optionalBoolean } from '../../protocol/fields.ts';
import { hashStoredFile } from '../../storage/file-hash.ts';
import { checkFolderSyntax } from './folder-syntax.ts';
import type { Handler } from './handler.ts';

/**
 * `stat { path, sha256? }`: one Entry; with `sha256: true` a file's entry also carries the SHA-256
 * of its content, computed by the server (cached by the storage per file version).
 */
export const stat: Handler<'stat'> = {
  async run(request) {
    request.require('read');
    const path = request.path();
    await checkFolderSyntax(request, 'path', path);
    const entry = await request.storage.stat(path);
    if (!optionalBoolean(request.args, 'sha256') || entry.type !== 'file') return entry;
    const { storage } = request;
    const sha256 = storage.sha256 ? await storage.sha256(path) : await hashStoredFile(storage, path, undefined);
    return { ...entry, sha256 };
  },
};
