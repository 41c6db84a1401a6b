import { FileShareError } from '../../errors.ts';
import { requireString } from '../../protocol/fields.ts';
import { DEFAULT_PERMISSIONS } from '../../auth/types.ts';
import type { Handler } from './handler.ts';

/** Sessions with a login attempt in progress. */
const LOGGING_IN = new WeakSet<object>();

/**
 * `login { username, password }`: check credentials, then scope storage to the user's home.
 * One attempt at a time per connection (`EBUSY`): pipelined attempts all passed the throttle check
 * before the first failure was counted, so one connection could try 64 passwords at once.
 */
export const login: Handler = {
  beforeLogin: true,
  async run(request) {
    const { session } = request;
    if (session.user) throw new FileShareError('EINVAL', `already logged in as ${session.user.username}`);
    const username = requireString(request.args, 'username', 256);
    const password = requireString(request.args, 'password', 1024);
    if (LOGGING_IN.has(session)) throw new FileShareError('EBUSY', 'a login is already in progress on this connection');
    LOGGING_IN.add(session);
    try {
      const user = await session.host.authenticate(username, password, session.info);
      const home = user.home ? await session.host.storage.scope(user.home) : session.host.storage;
      session.setUser(user, home);
      const permissions = user.permissions ?? DEFAULT_PERMISSIONS;
      session.host.emitSafe('login', { connection: session.info, username: user.username, permissions });
      return { username: user.username, permissions };
    } finally {
      LOGGING_IN.delete(session);
    }
  },
};
