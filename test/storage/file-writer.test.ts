import { closeSync, fstatSync, openSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileWriter, MAX_GATHER_MS, withoutFirst } from '../../src/storage/file-writer.ts';
import { cleanup, tempDir } from './fixtures.ts';

let dir = '';
const open: number[] = [];

test.before.each(async () => {
  dir = await tempDir();
});
test.after.each(async () => {
  for (const fd of open.splice(0)) closeSync(fd);
  await cleanup();
});

function fileFd(name: string, flags = 'w+'): { file: string; fd: number } {
  const file = path.join(dir, name);
  writeFileSync(file, '');
  const fd = openSync(file, flags);
  open.push(fd);
  return { file, fd };
}

function write(stream: Writable, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
}

function end(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(() => resolve());
  });
}

const sizeOf = (fd: number) => fstatSync(fd).size;

test('chunks below the gather size are taken at once and written together once they reach it', async () => {
  const { fd } = fileFd('a');
  const writer = new FileWriter({ fd, gatherBytes: 256 * 1024 });
  const data = randomBytes(300 * 1024);
  // three 64 KiB chunks: taken (callbacks run), nothing in the file yet
  for (let at = 0; at < 192 * 1024; at += 64 * 1024) await write(writer, data.subarray(at, at + 64 * 1024));
  assert.is(sizeOf(fd), 0);
  assert.is(writer.bytesWritten, 0);
  // the fourth completes 256 KiB: the four go to the file in one write
  await write(writer, data.subarray(192 * 1024, 256 * 1024));
  const started = Date.now();
  while (writer.bytesWritten === 0 && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.is(writer.bytesWritten, 256 * 1024, 'one write of all four');
  assert.is(sizeOf(fd), 256 * 1024);
  writer.write(data.subarray(256 * 1024));
  await end(writer);
  assert.is(writer.bytesWritten, data.length);
  assert.ok(readFileSync(`/proc/self/fd/${fd}`).equals(data));
});

test(`bytes that wait ${MAX_GATHER_MS} ms for more are written anyway, in one piece`, async () => {
  const { fd } = fileFd('idle');
  const writer = new FileWriter({ fd });
  const seen = new Set<number>();
  await Promise.all([write(writer, Buffer.alloc(1000, 1)), write(writer, Buffer.alloc(2000, 2)), write(writer, Buffer.alloc(3000, 3))]);
  const started = Date.now();
  while (writer.bytesWritten < 6000 && Date.now() - started < 5000) {
    seen.add(writer.bytesWritten);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.is(sizeOf(fd), 6000, 'a stalled sender: its bytes reach the file without more coming');
  assert.ok(Date.now() - started >= MAX_GATHER_MS - 2, 'not before the wait');
  assert.equal(
    [...seen].filter((n) => n !== 0),
    [],
    'the three chunks went in one write',
  );
  writer.destroy();
});

test('writes start at `start` and keep what is before it', async () => {
  const { file, fd } = fileFd('b');
  await fsp.writeFile(file, 'kept-');
  const writer = new FileWriter({ fd, start: 5, gatherBytes: 4 });
  await write(writer, Buffer.from('ab'));
  await write(writer, Buffer.from('cdef'));
  await write(writer, Buffer.from('g'));
  await end(writer);
  assert.is(readFileSync(file, 'utf8'), 'kept-abcdefg');
  assert.is(writer.bytesWritten, 7);
});

test('many small chunks and an empty one end up whole and in order', async () => {
  const { file, fd } = fileFd('c');
  const writer = new FileWriter({ fd });
  const parts = Array.from({ length: 2000 }, (_, i) => Buffer.from(`${i},`));
  for (const part of parts) writer.write(part);
  writer.write(Buffer.alloc(0));
  await end(writer);
  assert.is(readFileSync(file, 'utf8'), parts.join(''));
});

test('the next piece gathers while one is written; the piece after it waits for that write', async () => {
  const { file, fd } = fileFd('overlap');
  const writer = new FileWriter({ fd, gatherBytes: 1024 * 1024 });
  const piece = (n: number) => Buffer.alloc(1024 * 1024, n);
  // the first piece completes at once: its write starts, and the second may gather meanwhile
  await write(writer, piece(1));
  // taken before its write is over: that needs a turn of the event loop, the callback did not
  assert.is(writer.bytesWritten, 0, 'the first piece was taken while the file system still had it');
  const second = write(writer, piece(2)).then(() => writer.bytesWritten);
  // the second's callback comes only once the first piece is in the file
  assert.ok((await second) >= 1024 * 1024, 'the second piece was taken after the first was written');
  await write(writer, piece(3));
  await end(writer);
  const content = readFileSync(file);
  assert.is(content.length, 3 * 1024 * 1024);
  for (let n = 1; n <= 3; n++) assert.is(content[(n - 1) * 1024 * 1024 + 1000], n, `piece ${n} in its place`);
});

test('a failing write fails the stream, and the writes after it fail too', async () => {
  const { fd } = fileFd('d', 'r'); // read-only: every write is EBADF
  const writer = new FileWriter({ fd, gatherBytes: 8 });
  const failed = new Promise<NodeJS.ErrnoException>((resolve) => writer.once('error', resolve));
  await write(writer, Buffer.from('1234')); // gathered, not written: no error yet
  writer.write(Buffer.from('5678')); // completes the piece: its write fails
  assert.is((await failed).code, 'EBADF');
  assert.ok(writer.destroyed);
  const later = await write(writer, Buffer.from('9')).then(
    () => undefined,
    (err: Error) => err,
  );
  assert.ok(later, 'a write after the failure is refused');
});

test('a failure in the last, gathered piece reaches the end callback', async () => {
  const { fd } = fileFd('e', 'r');
  const writer = new FileWriter({ fd });
  writer.on('error', () => {});
  await write(writer, Buffer.from('only gathered'));
  const failure = await new Promise<Error | null | undefined>((resolve) => writer.end((err?: Error | null) => resolve(err)));
  assert.is((failure as NodeJS.ErrnoException | undefined)?.code ?? (writer.errored as NodeJS.ErrnoException | null)?.code, 'EBADF');
});

test('a write that fails after the wait, with no callback left to tell, fails the stream', async () => {
  const { fd } = fileFd('h', 'r');
  const writer = new FileWriter({ fd });
  const failed = new Promise<NodeJS.ErrnoException>((resolve) => writer.once('error', resolve));
  await write(writer, Buffer.from('taken, then the write fails'));
  assert.is((await failed).code, 'EBADF');
  assert.ok(writer.destroyed);
});

test("destroyed mid-write: 'close' waits for the write, and the descriptor is left open", async () => {
  const { fd } = fileFd('f');
  const writer = new FileWriter({ fd, gatherBytes: 1 });
  writer.on('error', () => {});
  writer.write(randomBytes(8 * 1024 * 1024));
  writer.destroy();
  await new Promise((resolve) => writer.once('close', resolve));
  // the 8 MiB write was in the pool when destroy() came: it is over by 'close'
  assert.is(sizeOf(fd), 8 * 1024 * 1024);
  assert.not.throws(() => fstatSync(fd), 'the writer never closes the descriptor');
});

test('destroyed with data gathered: nothing more is written', async () => {
  const { fd } = fileFd('g');
  const writer = new FileWriter({ fd });
  await write(writer, Buffer.from('never written'));
  writer.destroy();
  await new Promise((resolve) => writer.once('close', resolve));
  assert.is(sizeOf(fd), 0);
});

test('withoutFirst drops whole buffers and cuts into the one where the count ends', () => {
  const parts = [Buffer.from('abc'), Buffer.from('de'), Buffer.from('fgh')];
  assert.equal(withoutFirst(parts, 0).map(String), ['abc', 'de', 'fgh']);
  assert.equal(withoutFirst(parts, 3).map(String), ['de', 'fgh']);
  assert.equal(withoutFirst(parts, 4).map(String), ['e', 'fgh']);
  assert.equal(withoutFirst(parts, 7).map(String), ['h']);
  assert.equal(withoutFirst(parts, 8).map(String), []);
});

test.run();
