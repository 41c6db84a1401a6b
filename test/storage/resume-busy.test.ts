/**
 * A backend never calls back into the server: a second attempt of a resumable upload that finds the
 * first still open is refused with EBUSY (the server stops the older attempt itself before it opens
 * a newer one), and once the first let go, the next attempt continues from its kept bytes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage } from '../../src/storage/index.ts';
import { cleanup, rejects, tempDir } from './fixtures.ts';

test.after.each(cleanup);

const resume = { key: '0123456789abcdef0123456789abcdef' };

function write(stream: NodeJS.WritableStream, data: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
}

test('LocalStorage: an attempt of a resumable upload that is still open makes the next one EBUSY, not a callback', async () => {
  const storage = new LocalStorage(await tempDir());
  const first = await storage.openUpload('/big.bin', { resume, size: 10 });
  await write(first.stream, 'hello');
  await rejects(storage.openUpload('/big.bin', { resume, size: 10 }), 'EBUSY', []);
  await first.suspend();
  const second = await storage.openUpload('/big.bin', { resume, size: 10 });
  assert.is(second.offset, 5, 'the kept bytes of the first attempt');
  await write(second.stream, 'world');
  await new Promise<void>((resolve) => second.stream.end(resolve));
  await second.commit();
  assert.is((await storage.stat('/big.bin')).size, 10);
});

test.run();
