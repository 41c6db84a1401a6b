/**
 * A file over 100 MB up and down, verified by SHA-256, with process memory staying flat, and
 * pings answered on the same connection while the transfer runs.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FileShareClient } from '../../src/index.ts';
import { dispose, randomData, tempDir, testServer, within } from './helpers.ts';

test.after.each(dispose);

const SIZE = 128 * 1024 * 1024;
const MB = 1024 * 1024;

/** Write `bytes` of random data to `file` one chunk at a time; returns its SHA-256. */
async function randomFile(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  let left = bytes;
  const source = new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const chunk = randomData(Math.min(left, MB));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  await pipeline(source, createWriteStream(file));
  return hash.digest('hex');
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: MB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Run `transfer` while sampling RSS and pinging on `client` in a loop; returns the figures. */
async function watched<T>(
  client: FileShareClient,
  transfer: () => Promise<T>,
): Promise<{ result: T; rssGrowth: number; pingsDuring: number }> {
  global.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  let done = false;
  let pingsDuring = 0;
  const pinger = (async () => {
    while (!done) {
      await client.ping({ timeoutMs: 10_000 });
      if (!done) pingsDuring++;
    }
  })();
  pinger.catch(() => {}); // handled: its failure surfaces when awaited below, not as an unhandled rejection
  try {
    const result = await transfer();
    done = true; // pings resolved after this point are not counted
    await pinger;
    return { result, rssGrowth: peak - baseline, pingsDuring };
  } finally {
    done = true;
    clearInterval(sampler);
    await pinger.catch(() => {});
  }
}

test('a 128 MiB file goes up and comes back identical; RSS stays flat; pings are answered meanwhile', async () => {
  const t = await testServer();
  const local = await tempDir();
  const source = path.join(local, 'big.bin');
  const expected = await randomFile(source, SIZE);
  const client = await t.connect();

  const up = await within(
    watched(client, () => client.upload(source, '/big.bin')),
    60_000,
    'the upload',
  );
  assert.is(up.result.bytes, SIZE);
  assert.is(up.result.sha256, expected);
  assert.is(await fileSha256(path.join(t.root, 'big.bin')), expected);
  assert.ok(up.rssGrowth < 150 * MB, `RSS grew by ${(up.rssGrowth / MB).toFixed(0)} MiB during the upload`);
  assert.ok(up.pingsDuring >= 5, `only ${up.pingsDuring} pings completed during the upload`);

  const target = path.join(local, 'back.bin');
  const down = await within(
    watched(client, () => client.download('/big.bin', target)),
    60_000,
    'the download',
  );
  assert.is(down.result.bytes, SIZE);
  assert.is(down.result.sha256, expected);
  assert.is(await fileSha256(target), expected);
  assert.ok(down.rssGrowth < 150 * MB, `RSS grew by ${(down.rssGrowth / MB).toFixed(0)} MiB during the download`);
  assert.ok(down.pingsDuring >= 5, `only ${down.pingsDuring} pings completed during the download`);
});

test.run();
