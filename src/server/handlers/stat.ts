import type { Handler } from './handler.ts';

/** `stat { path }`: one Entry. */
export const stat: Handler = {
  async run(request) {
    request.require('read');
    return request.storage.stat(request.path());
  },
};
