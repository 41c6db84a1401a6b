/**
 * A big folder on S3 (over a thousand keys: several ListObjectsV2 pages) listed through the server:
 * the backend pages, the listing arrives complete and sorted by name, in several PARTIAL batches on
 * the wire; with `listPages()` (`sorted: false`) the storage's pages are streamed as they come.
 * See docs/scaling.md (Limits).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameType } from '../../src/protocol/frame.ts';
import { RawClient, defer, dispose, json, testServer } from '../core/helpers.ts';
import { missingService, s3Settings } from '../services/env.ts';
import { putObjects, s3Storage } from '../services/s3.ts';

test.after.each(dispose);

const s3 = s3Settings();
const FILES = 1100;
// S3 pages of 400 keys: three of them for this folder, and still over 1,000 entries on the wire (three PARTIAL batches of 500)
const PAGE = 400;
const FOLDERS = 12;

if (!s3) {
  missingService('S3', 'storage/s3-list.test.ts');
} else {
  test(`a folder of ${FILES + FOLDERS} entries on S3: paged by the backend, complete and sorted through the server, in PARTIAL batches`, async () => {
    const { storage, client, bucket, remove } = await s3Storage(s3, { listPageSize: PAGE });
    defer(remove);
    const keys = [
      ...Array.from({ length: FILES }, (_, i) => `big/f${String(i).padStart(5, '0')}.txt`),
      ...Array.from({ length: FOLDERS }, (_, i) => `big/d${String(i).padStart(2, '0')}/inner.txt`),
      'big/', // the folder's own marker
    ];
    await putObjects(
      s3,
      client,
      bucket,
      keys.map((key) => [key, 'x'] as const),
    );
    const expected = [
      ...Array.from({ length: FOLDERS }, (_, i) => `d${String(i).padStart(2, '0')}`),
      ...Array.from({ length: FILES }, (_, i) => `f${String(i).padStart(5, '0')}.txt`),
    ];

    let pages = 0;
    for await (const page of storage.entries('/big')) {
      pages++;
      assert.ok(page.length <= PAGE);
    }
    assert.ok(pages >= 3, `${pages} ListObjectsV2 pages for ${keys.length} keys`);

    const t = await testServer({ server: { root: storage } });
    const listed = await (await t.connect()).list('/big');
    assert.equal(
      listed.map((e) => e.name),
      expected,
    );
    assert.is(listed.filter((e) => e.type === 'directory').length, FOLDERS);

    // streamed: listPages() gets the storage's pages as they come, in key order (each page's files,
    // then its folders), complete, never collected and sorted by the server
    const streamed: string[] = [];
    let streamedBatches = 0;
    for await (const batch of (await t.connect()).listPages('/big')) {
      streamedBatches++;
      assert.ok(batch.length <= 500);
      streamed.push(...batch.map((e) => e.name));
    }
    assert.ok(streamedBatches >= pages, `${streamedBatches} batches`);
    assert.equal([...streamed].sort(), expected);
    assert.not.equal(streamed, expected, 'the storage order (not name order) shows the pages were not collected and sorted');

    // on the wire: several PARTIAL batches (at most 500 entries each), then the count
    const raw = await RawClient.connect(t.port);
    defer(() => void raw.socket.destroy());
    await raw.login('alice', 'alice-password');
    raw.request(3, { op: 'list', path: '/big' });
    const batches: number[] = [];
    for (;;) {
      const frame = await raw.next((f) => f.stream === 3 && (f.type === FrameType.PARTIAL || f.type === FrameType.RESPONSE), 30_000);
      if (frame.type === FrameType.RESPONSE) {
        assert.equal(json(frame), { count: expected.length });
        break;
      }
      batches.push((json(frame).entries as unknown[]).length);
    }
    assert.ok(batches.length >= Math.ceil(expected.length / 500), `${batches.length} batches`);
    assert.ok(
      batches.every((n) => n <= 500),
      String(batches),
    );
    assert.is(
      batches.reduce((a, b) => a + b, 0),
      expected.length,
    );
  });
}

test.run();
