import type { Handler } from './handler.ts';

/** `logout`: acknowledged, then the connection is closed cleanly. */
export const logout: Handler = {
  async run(request) {
    // close after the RESPONSE has been written (it is written when this promise settles)
    setImmediate(() => request.session.connection.end());
    return {};
  },
};
