import { optionalBoolean } from '../../protocol/fields.ts';
import type { Handler } from './handler.ts';

/** `rmdir { path, recursive? }`. */
export const rmdir: Handler<'rmdir'> = {
  async run(request) {
    request.require('delete');
    const path = request.path();
    await request.storage.rmdir(path, { recursive: optionalBoolean(request.args, 'recursive') });
    request.emit('rmdir', { connection: request.connection, username: request.user.username, path });
  },
};
