import type { Handler } from './handler.ts';

/** Entries per PARTIAL frame: keeps each frame far below the frame limit. */
const BATCH = 500;

/** `list { path }`: entries in PARTIAL batches, then `{ count }`. */
export const list: Handler = {
  async run(request) {
    request.require('read');
    const entries = await request.storage.list(request.path());
    for (let i = 0; i < entries.length; i += BATCH) request.partial({ entries: entries.slice(i, i + BATCH) });
    return { count: entries.length };
  },
};
