/**
 * An AbortSignal aborted at any moment after upload() / download() was called cancels it: in the
 * same tick, in a microtask, on the next tick. The call rejects with EABORTED and nothing appears
 * under the target name, on the server or on the local disk.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dispose, makeFile, rejects, tempDir, testServer, walk, within } from './helpers.ts';

test.after.each(dispose);

const moments: Array<[string, (fn: () => void) => void]> = [
  ['synchronously', (fn) => fn()],
  ['in a microtask', (fn) => queueMicrotask(fn)],
  ['in a promise continuation', (fn) => void Promise.resolve().then(fn)],
  ['on the next tick', (fn) => process.nextTick(fn)],
];

test('upload: an abort right after the call cancels it (file and stream sources): EABORTED, nothing stored', async () => {
  const t = await testServer();
  const client = await t.connect();
  const local = await tempDir();
  const file = await makeFile(path.join(local, 'small.bin'), 1000);
  for (const [when, schedule] of moments) {
    for (const kind of ['file', 'stream', 'resumable'] as const) {
      const controller = new AbortController();
      const target = `/${kind}-${when.replace(/ /g, '-')}.bin`;
      const source = kind === 'stream' ? Readable.from([Buffer.alloc(1000, 1)]) : file;
      const upload = client.upload(source, target, { signal: controller.signal, resume: kind === 'resumable' });
      schedule(() => controller.abort());
      await rejects(within(upload, 10_000, `the upload aborted ${when}`), 'EABORTED');
      assert.ok(client.connected);
    }
  }
  // the server may still be discarding what arrived; nothing ever appears under a target name
  assert.equal(
    (await walk(t.root)).filter((name) => !name.includes('.fileshare-part-')),
    [],
    'an aborted upload was stored',
  );
  await client.upload(file, '/after.bin');
  assert.equal(
    (await client.list('/')).map((e) => e.name),
    ['after.bin'],
  );
});

test('download: an abort right after the call cancels it (path and stream destinations): EABORTED, no local file', async () => {
  const t = await testServer();
  await makeFile(path.join(t.root, 'a.bin'), 1000);
  const client = await t.connect();
  const local = await tempDir();
  for (const [when, schedule] of moments) {
    for (const kind of ['path', 'resumable'] as const) {
      const controller = new AbortController();
      const target = path.join(local, `${kind}-${when.replace(/ /g, '-')}.bin`);
      const download = client.download('/a.bin', target, { signal: controller.signal, resume: kind === 'resumable' });
      schedule(() => controller.abort());
      await rejects(within(download, 10_000, `the download aborted ${when}`), 'EABORTED');
      assert.not.ok(
        await fsp.stat(target).then(
          () => true,
          () => false,
        ),
        `${target} exists after an abort ${when}`,
      );
    }
  }
  assert.equal(
    (await fsp.readdir(local)).filter((name) => !name.endsWith('.fileshare-partial')),
    [],
  );
  assert.ok(client.connected);
  assert.is((await client.download('/a.bin', path.join(local, 'ok.bin'))).bytes, 1000);
});

test.run();
