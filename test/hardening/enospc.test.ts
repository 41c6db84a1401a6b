/**
 * A full disk, for real: the server's root (and a client's download folder) on a 2 MiB tmpfs.
 * Mounting needs root; without it the tests are skipped with a message.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defer, dispose, makeFile, rejects, sha256File, tempDir, tempFiles, testServer, waitFor, walk } from './helpers.ts';

test.after.each(dispose);

const KiB = 1024;
const MiB = 1024 * KiB;

/** A fresh 2 MiB tmpfs, unmounted after the test; null (with a message) when mounting is not allowed. */
async function smallDisk(label: string): Promise<string | null> {
  const dir = await tempDir(`fileshare-enospc-${label}-`);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    console.log(`  (skipped: cannot mount a tmpfs, root is needed: ${(err as Error).message.split('\n')[0]})`);
    return null;
  }
  defer(() => execFileSync('umount', ['-l', dir], { stdio: 'pipe' }));
  return dir;
}

/** `count` chunks of 64 KiB, so that the disk fills in the middle of the stream. */
function chunks(count: number): Readable {
  return Readable.from(Array.from({ length: count }, (_, i) => Buffer.alloc(64 * KiB, i)));
}

test('server disk full: ENOSPC (announced or not), no partial or temp file, existing files intact, the server keeps serving', async () => {
  const disk = await smallDisk('server');
  if (!disk) return;
  const local = await tempDir();
  const t = await testServer({ server: { root: disk } });
  const client = await t.connect();

  const keep = await makeFile(path.join(local, 'keep.bin'), 1200 * KiB);
  const kept = await client.upload(keep, '/keep.bin');

  // announced and too big for what is left: refused before any data
  const big = await makeFile(path.join(local, 'big.bin'), 3 * MiB);
  await rejects(client.upload(big, '/big.bin'), 'ENOSPC');
  assert.equal(await walk(disk), ['keep.bin']);

  // not announced: the disk fills mid-stream
  await rejects(client.upload(chunks(24), '/stream.bin'), 'ENOSPC');
  assert.equal(await walk(disk), ['keep.bin'], 'a partial or temp file was left');

  // announced and within the free space at the start, but another writer takes the space meanwhile
  const filler = path.join(disk, 'filler');
  const racing = Readable.from(
    (async function* () {
      yield Buffer.alloc(64 * KiB, 1);
      await fsp.writeFile(filler, Buffer.alloc(500 * KiB));
      for (let i = 0; i < 9; i++) yield Buffer.alloc(64 * KiB, 2);
    })(),
  );
  await rejects(client.upload(racing, '/late.bin', { size: 10 * 64 * KiB }), 'ENOSPC');
  assert.equal(await walk(disk), ['filler', 'keep.bin'], 'a partial or temp file was left');
  await fsp.rm(filler);

  // a resumable upload that fills the disk midway discards its data (docs/security.md)
  const medium = await makeFile(path.join(local, 'medium.bin'), 640 * KiB);
  let filled = false;
  const fillOnce = () => {
    if (!filled) writeFileSync(filler, Buffer.alloc(500 * KiB));
    filled = true;
  };
  const eachChunk = await t.client({ progressIntervalMs: 0 });
  await eachChunk.login('alice', 'alice-password');
  await rejects(eachChunk.upload(medium, '/resumable.bin', { resume: true, onProgress: fillOnce }), 'ENOSPC');
  assert.ok(filled);
  await fsp.rm(filler);
  assert.equal(await walk(disk), ['keep.bin']);
  assert.equal(await tempFiles(disk), []);

  // a small upload (written synchronously, not checked against the free space first) on a disk
  // with less room left than it needs: its own write says ENOSPC
  const room = await fsp.statfs(disk);
  await fsp.writeFile(filler, Buffer.alloc(Math.max(0, Number(room.bavail) * Number(room.bsize) - 8 * KiB)));
  const tiny = await makeFile(path.join(local, 'tiny.bin'), 32 * KiB);
  await rejects(client.upload(tiny, '/tiny.bin'), 'ENOSPC');
  assert.equal(await walk(disk), ['filler', 'keep.bin'], 'a partial or temp file was left');
  assert.equal(await tempFiles(disk), []);
  await fsp.rm(filler);

  // the server and the connection are fine: list, download, and an upload that fits
  assert.ok(client.connected);
  assert.equal(
    (await client.list('/')).map((e) => e.name),
    ['keep.bin'],
  );
  const back = await client.download('/keep.bin', path.join(local, 'back.bin'));
  assert.is(back.sha256, kept.sha256);
  assert.is(await sha256File(path.join(disk, 'keep.bin')), kept.sha256);
  const small = await makeFile(path.join(local, 'small.bin'), 100 * KiB);
  await client.upload(small, '/small.bin');
  const other = await t.connect();
  assert.equal(
    (await other.list('/')).map((e) => e.name),
    ['keep.bin', 'small.bin'],
  );
});

test('a nearly full disk: a resumed upload needs room only for the bytes it still has to send', async () => {
  const disk = await smallDisk('resume');
  if (!disk) return;
  const local = await tempDir();
  // a small window keeps the client close behind the disk, so the interruption lands mid-file
  const t = await testServer({
    server: { root: disk, window: 128 * KiB, chunkSize: 64 * KiB },
    client: { chunkSize: 64 * KiB, progressIntervalMs: 0 },
  });
  const file = await makeFile(path.join(local, 'f.bin'), 1536 * KiB);
  const first = await t.connect();
  let fired = false;
  await rejects(
    first.upload(file, '/f.bin', {
      resume: true,
      onProgress: (p) => {
        if (!fired && p.bytes >= 768 * KiB) {
          fired = true;
          void first.close();
        }
      },
    }),
    'ECLOSED',
  );
  await waitFor(() => t.server.connectionCount === 0, 3000, 'the server to drop the connection');
  const [partial] = await tempFiles(disk);
  const kept = (await fsp.stat(path.join(disk, partial!))).size;
  assert.ok(kept > 0 && kept < 1536 * KiB, `kept ${kept}`);
  // leave room for what is missing (plus a little), not for the whole file
  const { bavail, bsize } = await fsp.statfs(disk);
  const missing = 1536 * KiB - kept;
  await fsp.writeFile(path.join(disk, 'filler'), Buffer.alloc(Number(bavail) * Number(bsize) - missing - 64 * KiB));
  const second = await t.connect();
  const result = await second.upload(file, '/f.bin', { resume: true });
  assert.is(result.sha256, await sha256File(file));
  assert.equal(await walk(disk), ['f.bin', 'filler']);
});

test('client disk full during a download: ENOSPC, no local file left, the connection stays usable', async () => {
  const disk = await smallDisk('client');
  if (!disk) return;
  const t = await testServer();
  await makeFile(path.join(t.root, 'big.bin'), 3 * MiB);
  await makeFile(path.join(t.root, 'small.bin'), 100 * KiB);
  const client = await t.connect();
  await rejects(client.download('/big.bin', path.join(disk, 'big.bin')), 'ENOSPC');
  assert.equal(await fsp.readdir(disk), []);
  const ok = await client.download('/small.bin', path.join(disk, 'small.bin'));
  assert.is(ok.bytes, 100 * KiB);
  assert.equal(await fsp.readdir(disk), ['small.bin']);
});

test('a resumable upload announcing more than the free disk: ENOSPC before anything exists, no partial file, for any number of keys', async () => {
  const disk = await smallDisk('resumable-refused');
  if (!disk) return;
  const local = await tempDir();
  const t = await testServer({ server: { root: disk } });
  const client = await t.connect();
  for (let i = 0; i < 5; i++) {
    // a new local file each time: a new resume key, which before left one more empty partial file
    const big = await makeFile(path.join(local, `big-${i}.bin`), 3 * MiB);
    await rejects(client.upload(big, `/big-${i}.bin`, { resume: true }), 'ENOSPC');
  }
  assert.equal(await tempFiles(disk), [], 'a refused upload left a partial file');
  assert.equal(await walk(disk), []);
  // and after a restart of the server nothing turns up either
  await t.server.close();
  const again = await testServer({ server: { root: disk } });
  const next = await again.connect();
  assert.equal(await next.list('/'), []);
  assert.equal(await tempFiles(disk), []);
});

test.run();
