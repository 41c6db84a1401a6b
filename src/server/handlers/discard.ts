import { Writable } from 'node:stream';
import type { Handler } from './handler.ts';

/**
 * `discard { size? }`: an upload whose bytes are hashed and dropped. It measures the network
 * and the protocol without the disk, and needs no write permission (it stores nothing).
 */
export const discard: Handler<'discard'> = {
  async run(request) {
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback(), highWaterMark: 1 << 20 });
    return request.receive(sink);
  },
};
