import type { Handler } from './handler.ts';

/** `logout`: acknowledged, then the connection is closed cleanly. */
export const logout: Handler<'logout'> = {
  async run(request) {
    request.closeAfterResponse();
    return {};
  },
};
