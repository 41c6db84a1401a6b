import { FileShareError } from '../../errors.ts';
import { checkFolderSyntax } from './folder-syntax.ts';
import type { Handler } from './handler.ts';

/** `rename { from, to }`: never overwrites. */
export const rename: Handler<'rename'> = {
  async run(request) {
    request.require('write');
    const from = request.path('from');
    const to = request.path('to');
    await checkFolderSyntax(request, 'from', from);
    // `mv file dir-that-is-not-there/` is ENOTDIR too: a file cannot become a folder
    if (request.namesFolder('to') && (await request.storage.stat(from)).type === 'file') {
      throw new FileShareError('ENOTDIR', `not a folder: ${to}/`);
    }
    await request.storage.rename(from, to);
    request.emit('rename', { connection: request.connection, username: request.user.username, path: from, from, to });
  },
};
