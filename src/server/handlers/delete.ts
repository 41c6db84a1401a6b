import { checkFolderSyntax } from './folder-syntax.ts';
import type { Handler } from './handler.ts';

/** `delete { path }`: files only. */
export const deleteFile: Handler<'delete'> = {
  async run(request) {
    request.require('delete');
    const path = request.path();
    await checkFolderSyntax(request, 'path', path);
    await request.storage.delete(path);
    request.emit('delete', { connection: request.connection, username: request.user.username, path });
  },
};
