/**
 * The server's internal files (partial files of resumable uploads) replaced behind its back by a
 * symbolic link or a hard link to a file outside the root: by a local user with access to the
 * folder, another service writing into it, a restored backup. No byte may reach the outside file,
 * with or without `restart`, and the upload still completes under its own name.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeHeader, encodeJsonFrame } from '../../src/protocol/encoder.ts';
import { FrameType } from '../../src/protocol/frame.ts';
import { RawClient, dispose, json, sha256, tempDir, tempFiles, testServer, waitFor } from './helpers.ts';

test.after.each(dispose);

const KEY = '0123456789abcdef0123456789abcdef';
const ORIGINAL = Buffer.from('outside, must never change\n');

/** Leave a partial file of a resumable upload of `/a.bin` (10 bytes announced, 5 sent). */
async function interruptedUpload(t: Awaited<ReturnType<typeof testServer>>): Promise<string> {
  const first = await RawClient.connect(t.port);
  await first.login('alice', 'alice-password');
  first.request(2, { op: 'upload', path: '/a.bin', size: 10, resume: { key: KEY } });
  await first.next((f) => f.stream === 2 && f.type === FrameType.PARTIAL);
  first.write([encodeHeader(FrameType.DATA, 2, 5), Buffer.from('first')]);
  await waitFor(
    async () => {
      const [name] = await tempFiles(t.root);
      return name !== undefined && (await fsp.stat(path.join(t.root, name))).size === 5;
    },
    5000,
    'the first 5 bytes to reach the disk',
  );
  first.socket.destroy();
  await waitFor(() => t.server.connectionCount === 0, 5000, 'the server to drop the connection');
  const [partial] = await tempFiles(t.root);
  return path.join(t.root, partial!);
}

/** Upload `/a.bin` again (10 new bytes) with the same key; resolves to the final frame's body and type. */
async function retry(
  t: Awaited<ReturnType<typeof testServer>>,
  restart: boolean,
): Promise<{ type: FrameType; body: Record<string, unknown> }> {
  const data = Buffer.from('0123456789');
  const second = await RawClient.connect(t.port);
  await second.login('alice', 'alice-password');
  second.request(2, { op: 'upload', path: '/a.bin', size: 10, resume: { key: KEY, restart } });
  const go = await second.next((f) => f.stream === 2 && (f.type === FrameType.PARTIAL || f.type === FrameType.ERROR));
  if (go.type === FrameType.ERROR) return { type: go.type, body: json(go) };
  const offset = Number(json(go).offset);
  assert.is(offset, 0, 'a replaced partial file must never count as kept data');
  second.write([encodeHeader(FrameType.DATA, 2, data.length), data]);
  second.write(encodeJsonFrame(FrameType.END, 2, { bytes: data.length, sha256: sha256(data) }));
  const done = await second.next((f) => f.stream === 2 && (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR));
  return { type: done.type, body: json(done) };
}

for (const restart of [true, false]) {
  test(`partial file replaced by a symbolic link to an outside file, retried with restart: ${restart}: the outside file is untouched`, async () => {
    const outside = await tempDir('fileshare-outside-');
    const victim = path.join(outside, 'victim.txt');
    await fsp.writeFile(victim, ORIGINAL);
    const t = await testServer();
    const partial = await interruptedUpload(t);
    await fsp.rm(partial);
    await fsp.symlink(victim, partial);

    const result = await retry(t, restart);
    assert.ok((await fsp.readFile(victim)).equals(ORIGINAL), 'bytes were written outside the root');
    assert.is(result.type, FrameType.RESPONSE, JSON.stringify(result.body));
    assert.is(await fsp.readFile(path.join(t.root, 'a.bin'), 'utf8'), '0123456789');
    assert.equal(await tempFiles(t.root), [], 'the foreign link or a partial file was left');
  });

  test(`partial file replaced by a hard link to an outside file, retried with restart: ${restart}: the outside file is untouched`, async () => {
    const outside = await tempDir('fileshare-outside-');
    const victim = path.join(outside, 'victim.txt');
    await fsp.writeFile(victim, ORIGINAL);
    const t = await testServer();
    const partial = await interruptedUpload(t);
    await fsp.rm(partial);
    try {
      await fsp.link(victim, partial);
    } catch (err) {
      console.log(`  (skipped: the temp folders are on different filesystems: ${(err as Error).message})`);
      return;
    }
    const result = await retry(t, restart);
    assert.ok((await fsp.readFile(victim)).equals(ORIGINAL), 'bytes were written into (or cut off) a file outside the root');
    assert.is(result.type, FrameType.RESPONSE, JSON.stringify(result.body));
    assert.is(await fsp.readFile(path.join(t.root, 'a.bin'), 'utf8'), '0123456789');
    assert.ok((await fsp.readFile(victim)).equals(ORIGINAL));
  });
}

test('partial file replaced by a symbolic link to a large outside file: nothing of it is offered as kept data', async () => {
  const outside = await tempDir('fileshare-outside-');
  const victim = path.join(outside, 'secret.bin');
  const secret = randomBytes(10);
  await fsp.writeFile(victim, secret);
  const t = await testServer();
  const partial = await interruptedUpload(t);
  await fsp.rm(partial);
  await fsp.symlink(victim, partial);
  const probe = await RawClient.connect(t.port);
  await probe.login('alice', 'alice-password');
  probe.request(2, { op: 'upload', path: '/a.bin', size: 10, resume: { key: KEY } });
  const go = await probe.next((f) => f.stream === 2 && (f.type === FrameType.PARTIAL || f.type === FrameType.ERROR));
  // an offer of 10 kept bytes with their SHA-256 would confirm a guess of the outside file's content
  if (go.type === FrameType.PARTIAL) assert.equal(json(go), { offset: 0 });
  assert.ok((await fsp.readFile(victim)).equals(secret));
});

test.run();
