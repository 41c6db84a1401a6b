import type { Handler } from './handler.ts';

/** `rename { from, to }`: never overwrites. */
export const rename: Handler<'rename'> = {
  async run(request) {
    request.require('write');
    const from = request.path('from');
    const to = request.path('to');
    await request.storage.rename(from, to);
    request.emit('rename', { connection: request.connection, username: request.user.username, path: from, to });
  },
};
