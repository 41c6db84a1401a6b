import { optionalBoolean } from '../../protocol/fields.ts';
import type { Handler } from './handler.ts';

/** `mkdir { path, recursive? }`. */
export const mkdir: Handler<'mkdir'> = {
  async run(request) {
    request.require('write');
    const path = request.path();
    await request.storage.mkdir(path, { recursive: optionalBoolean(request.args, 'recursive') });
    request.emit('mkdir', { connection: request.connection, username: request.user.username, path });
  },
};
