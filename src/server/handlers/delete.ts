import type { Handler } from './handler.ts';

/** `delete { path }`: files only. */
export const deleteFile: Handler = {
  async run(request) {
    request.require('delete');
    const path = request.path();
    await request.storage.delete(path);
    request.session.host.emitSafe('delete', { connection: request.session.info, username: request.user.username, path });
  },
};
