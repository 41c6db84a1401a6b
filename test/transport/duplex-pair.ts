/**
 * Two connected in-memory Duplex streams, as ws's tests use: what one side writes, the other reads.
 * Backpressure is real: a write is acknowledged only once the other side's reader has room, so
 * `write()` returns false and 'drain' comes as with a socket whose peer does not read. Ending one
 * side ends the other's readable half; destroying one side closes both.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';

class Side extends Duplex {
  other!: Side;
  /** A write waiting for the other side's reader to want more. */
  private waiting: (() => void) | undefined;

  constructor(highWaterMark: number) {
    super({ highWaterMark, allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.other.destroyed) return callback(new Error('the other side is closed'));
    if (this.other.push(chunk)) callback();
    else this.other.waiting = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other.push(null);
    callback();
  }

  override _read(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.waiting = undefined;
    if (!this.other.destroyed) this.other.destroy();
    callback(error);
  }
}

/** A connected pair `[a, b]`; each side buffers at most about `highWaterMark` bytes for its reader. */
export function duplexPair(highWaterMark = 64 * 1024): [Duplex, Duplex] {
  const a = new Side(highWaterMark);
  const b = new Side(highWaterMark);
  a.other = b;
  b.other = a;
  return [a, b];
}

/**
 * Two connected TCP sockets on 127.0.0.1, for what only a real socket shows (kernel buffers, write
 * callbacks after the kernel copied the bytes). `close()` destroys both and stops the listener.
 */
export async function tcpSocketPair(
  serverOptions: net.ServerOpts = {},
): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  const listener = net.createServer(serverOptions);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  const server = await accepted;
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}
