/**
 * Small files through a real server, on LocalStorage's synchronous small-file path and, for
 * comparison, with it turned off (`smallFileBytes: 0`): quotas refuse what does not fit with the
 * same code and leave nothing, a failing small upload in a batch leaves nothing either, and what
 * arrives is verified by SHA-256 both ways.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LocalStorage } from '../../src/storage/index.ts';
import { dispose, rejects, tempDir, tempFiles, testServer, walk } from './helpers.ts';

test.after.each(dispose);

const KiB = 1024;
const users = { carol: { password: 'carol-password', home: 'carol', quotaBytes: 10 * KiB } };

for (const smallFileBytes of [undefined, 0]) {
  const label = smallFileBytes === 0 ? 'threshold 0' : 'default threshold';

  test(`small files (${label}): a quota-exceeding upload is EQUOTA, nothing stored; what fits round-trips`, async () => {
    const dir = await tempDir();
    const storage = new LocalStorage(dir, smallFileBytes === undefined ? {} : { smallFileBytes });
    const t = await testServer({ users, server: { root: storage } });
    const carol = await t.connect('carol');
    const local = await tempDir();
    const a = randomBytes(6 * KiB);
    const b = randomBytes(5 * KiB);
    await fsp.writeFile(path.join(local, 'a.bin'), a);
    await fsp.writeFile(path.join(local, 'b.bin'), b);
    const up = await carol.upload(path.join(local, 'a.bin'), '/a.bin');
    assert.is(up.sha256, createHash('sha256').update(a).digest('hex'));
    await rejects(carol.upload(path.join(local, 'b.bin'), '/b.bin'), 'EQUOTA');
    assert.equal(await walk(path.join(dir, 'carol')), ['a.bin']);
    assert.equal(await tempFiles(dir), []);
    // an overwrite of the same size fits: the replaced file's bytes are credited
    await fsp.writeFile(path.join(local, 'a2.bin'), b);
    await carol.upload(path.join(local, 'a2.bin'), '/a.bin', { overwrite: true });
    const back = path.join(local, 'back.bin');
    const down = await carol.download('/a.bin', back);
    assert.is(down.sha256, createHash('sha256').update(b).digest('hex'));
    assert.ok((await fsp.readFile(back)).equals(b));
    assert.equal(await tempFiles(dir), []);
    assert.ok(carol.connected);
  });

  test(`small files (${label}): uploads in flight into a name that exists fail with EEXIST, the others commit`, async () => {
    const dir = await tempDir();
    const storage = new LocalStorage(dir, smallFileBytes === undefined ? {} : { smallFileBytes });
    const t = await testServer({ users: { alice: 'alice-password' }, server: { root: storage } });
    const alice = await t.connect('alice');
    const local = await tempDir();
    await fsp.writeFile(path.join(dir, 'taken.bin'), 'theirs');
    const files = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const file = path.join(local, `f${i}.bin`);
        await fsp.writeFile(file, randomBytes(4 * KiB));
        return file;
      }),
    );
    const results = await Promise.allSettled(files.map((file, i) => alice.upload(file, i === 7 ? '/taken.bin' : `/f${i}.bin`)));
    assert.is(results.filter((r) => r.status === 'rejected').length, 1);
    await rejects(Promise.reject((results[7] as PromiseRejectedResult).reason), 'EEXIST');
    assert.is(await fsp.readFile(path.join(dir, 'taken.bin'), 'utf8'), 'theirs');
    for (const [i, file] of files.entries()) {
      if (i === 7) continue;
      assert.ok((await fsp.readFile(path.join(dir, `f${i}.bin`))).equals(await fsp.readFile(file)));
    }
    assert.equal(await tempFiles(dir), []);
  });
}

test.run();
