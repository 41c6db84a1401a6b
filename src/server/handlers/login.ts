import { requireString } from '../../protocol/fields.ts';
import type { Handler } from './handler.ts';

/**
 * `login { username, password }`: check credentials, then scope storage to the user's home. The
 * session allows one attempt at a time per connection (`EBUSY`): pipelined attempts all passed the
 * throttle check before the first failure was counted, so one connection could try 64 passwords at once.
 */
export const login: Handler<'login'> = {
  beforeLogin: true,
  async run(request) {
    const username = requireString(request.args, 'username', 256);
    const password = requireString(request.args, 'password', 1024);
    return request.login(username, password);
  },
};
