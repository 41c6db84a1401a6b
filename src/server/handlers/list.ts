import { optionalBoolean } from '../../protocol/fields.ts';
import type { Entry } from '../../storage/types.ts';
import type { Handler } from './handler.ts';

/** Most entries per PARTIAL frame. */
const BATCH = 500;

/**
 * `list { path, sorted? }`: entries in PARTIAL batches, then `{ count }`. Sorted by name unless
 * `sorted: false`, which streams the storage's pages as they come when the storage can page.
 */
export const list: Handler<'list'> = {
  async run(request) {
    request.require('read');
    const path = request.path();
    const storage = request.storage;
    const sorted = request.args.sorted == null || optionalBoolean(request.args, 'sorted');
    // A batch must fit the frame size the client announced in its HELLO and the JSON body limit,
    // whatever the names: batches are cut by encoded size too. Each waits until the connection can
    // take it, so a client that does not read holds up its own listing (until the idle timeout)
    // rather than growing the server's memory; with a paging storage that also holds up the
    // storage's next page, so an unsorted listing holds one page at a time however big the folder.
    const pages: AsyncIterable<Entry[]> | Iterable<Entry[]> =
      !sorted && storage.entries ? storage.entries(path) : [await storage.list(path)];
    let count = 0;
    for await (const page of pages) {
      for (const batch of batches(page, request.maxPartialBody)) await request.partial({ entries: batch });
      count += page.length;
    }
    return { count };
  },
};

/** `{"entries":[...]}` bodies of at most `maxBody` bytes and {@link BATCH} entries. @internal */
function* batches(entries: readonly Entry[], maxBody: number): Generator<Entry[]> {
  const envelope = Buffer.byteLength(JSON.stringify({ entries: [] }));
  let batch: Entry[] = [];
  let bytes = envelope;
  for (const entry of entries) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1; // and a comma
    if (batch.length > 0 && (batch.length >= BATCH || bytes + size > maxBody)) {
      yield batch;
      batch = [];
      bytes = envelope;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}
