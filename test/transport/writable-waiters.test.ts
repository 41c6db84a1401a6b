/**
 * Requests waiting for a backed-up socket (listings sent with backpressure) wait on one list of
 * the connection's, not on a 'drain' and a 'close' listener each on the socket: dozens in flight
 * made Node print MaxListenersExceededWarning. A client that stops reading, then reads again,
 * gets every answer whole, and the process sees no such warning.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameType } from '../../src/protocol/frame.ts';
import { RawClient, dispose, json, sleep, testServer } from '../core/helpers.ts';

test.after.each(dispose);

test('40 listings held up by a client that does not read: all answered, no MaxListenersExceededWarning', async () => {
  const t = await testServer({ server: { maxRequestsInFlight: 64 } });
  const dir = path.join(t.root, 'many');
  await fsp.mkdir(dir);
  const long = 'n'.repeat(200);
  await Promise.all(Array.from({ length: 1500 }, (_, i) => fsp.writeFile(path.join(dir, `${long}-${i}`), '')));
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
  };
  process.on('warning', onWarning);
  try {
    const raw = await RawClient.connect(t.port);
    await raw.login('alice', 'alice-password');
    raw.socket.pause(); // about 18 MB of listings: more than the kernel's socket buffers hold
    const ids = Array.from({ length: 40 }, (_, i) => i + 2);
    for (const id of ids) raw.request(id, { op: 'list', path: '/many' });
    await sleep(300); // not a timing assertion: lets the server fill the buffers and wait
    raw.socket.resume();
    for (const id of ids) {
      const answer = await raw.next((f) => f.stream === id && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR), 20_000);
      assert.is(answer.type, FrameType.RESPONSE, JSON.stringify(json(answer)));
    }
    await sleep(10); // a warning is emitted on the next tick
    assert.equal(
      warnings.map((w) => w.message),
      [],
    );
  } finally {
    process.off('warning', onWarning);
  }
});

test.run();
