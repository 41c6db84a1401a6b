/**
 * The raw-TCP baseline's minimal wire format, shared by its server and client.
 *
 * A request or response header is one line of JSON ending in `\n`; file bytes follow a header
 * verbatim, their count given in the header. A connection whose first header is `{"op":"echo"}`
 * becomes a plain echo socket. The overhead over a bare pipe is one short line per transfer,
 * which is what any file protocol needs at the least, so the baseline stays "the Node limit".
 *
 * ```
 *  upload:   C→S {"op":"upload","path":p,"size":n}\n <n bytes>      S→C {"bytes":n,"sha256":h}\n
 *  download: C→S {"op":"download","path":p}\n      S→C {"size":n}\n <n bytes>
 *  echo:     C→S {"op":"echo"}\n then every byte sent is sent back
 * ```
 */
import type { Socket } from 'node:net';

const MAX_LINE = 64 * 1024;

type Consumer =
  | { readonly kind: 'line'; resolve(line: string): void; reject(error: Error): void }
  | {
      readonly kind: 'bytes';
      remaining: number;
      /** Returns false to ask for a pause; the consumer calls `resume()` when ready. */
      onChunk(chunk: Buffer): boolean;
      resolve(): void;
      reject(error: Error): void;
    };

/**
 * Reads header lines and counted byte runs from a socket, one consumer at a time. Bytes that
 * arrive while nobody reads are kept and the socket is paused.
 */
export class SocketReader {
  private leftover: Buffer | undefined;
  private consumer: Consumer | undefined;
  private failure: Error | undefined;
  private wantPause = false;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.leftover = this.leftover === undefined ? chunk : Buffer.concat([this.leftover, chunk]);
      this.pump();
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      const c = this.consumer;
      this.consumer = undefined;
      c?.reject(this.failure);
    };
    socket.on('error', fail);
    socket.on('end', () => fail(new Error('connection ended')));
    socket.on('close', () => fail(new Error('connection closed')));
  }

  /** The next `\n`-terminated line, without the `\n`. */
  line(): Promise<string> {
    return new Promise((resolve, reject) => this.start({ kind: 'line', resolve, reject }));
  }

  /** Hand the next `count` bytes to `onChunk`, which may return false to pause (then `resume()`). */
  bytes(count: number, onChunk: (chunk: Buffer) => boolean): Promise<void> {
    if (count === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.start({ kind: 'bytes', remaining: count, onChunk, resolve, reject }));
  }

  /** Undo a pause asked for by a `bytes` consumer. */
  resume(): void {
    this.wantPause = false;
    this.pump();
  }

  /** Stop reading: give back what is buffered and let the caller own the socket's data. */
  detach(): Buffer | undefined {
    this.socket.removeAllListeners('data');
    const rest = this.leftover;
    this.leftover = undefined;
    return rest;
  }

  private start(consumer: Consumer): void {
    if (this.failure !== undefined) return consumer.reject(this.failure);
    if (this.consumer !== undefined) return consumer.reject(new Error('SocketReader: one read at a time'));
    this.consumer = consumer;
    this.pump();
  }

  private pump(): void {
    while (this.consumer !== undefined && this.leftover !== undefined && !this.wantPause) {
      const c = this.consumer;
      const buf = this.leftover;
      if (c.kind === 'line') {
        const end = buf.indexOf(10);
        if (end < 0) {
          if (buf.length > MAX_LINE) {
            this.consumer = undefined;
            c.reject(new Error('header line too long'));
            this.socket.destroy();
          }
          break;
        }
        this.leftover = end + 1 < buf.length ? buf.subarray(end + 1) : undefined;
        this.consumer = undefined;
        c.resolve(buf.toString('utf8', 0, end));
      } else {
        const take = Math.min(c.remaining, buf.length);
        const piece = take === buf.length ? buf : buf.subarray(0, take);
        this.leftover = take === buf.length ? undefined : buf.subarray(take);
        c.remaining -= take;
        if (c.remaining === 0) this.consumer = undefined;
        // a pause asked for with the last chunk has nothing left to hold back: kept, it would stall
        // the next read (a header line), and the writable that asked emits no 'drain' once ended
        if (!c.onChunk(piece) && c.remaining > 0) this.wantPause = true;
        if (c.remaining === 0) c.resolve();
      }
    }
    // Flow control: read from the kernel only while someone consumes and leftover is drained.
    if (this.consumer !== undefined && this.leftover === undefined && !this.wantPause) this.socket.resume();
    else this.socket.pause();
  }
}

/** Write a JSON header line. */
export function writeHeader(socket: Socket, header: object): void {
  socket.write(JSON.stringify(header) + '\n');
}

/** Parse a header line as a JSON object. */
export function parseHeader(line: string): Record<string, unknown> {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('header is not an object');
  return value as Record<string, unknown>;
}
