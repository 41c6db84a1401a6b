/**
 * The baselines: a plain node:net (node:tls) pipe, file to file, moving the same bytes as the
 * systems under test with the least protocol that still does the job (raw-wire.ts). Two flavours
 * share this code: `raw` hashes what it receives, `pipe` (the bare pipe) does not.
 *
 * - Sender: `fs.createReadStream(file, { highWaterMark: 1 MiB }).pipe(socket)`, `setNoDelay(true)`.
 * - Receiver: writes what arrives to a file (1 MiB write buffer) with backpressure, and with
 *   `hash: true` also hashes it (SHA-256) on the fly.
 * - Ping: 8 bytes echoed on a connection of its own (opened on the first ping).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { once } from 'node:events';
import type { ClientConfig, ServerConfig } from '../messages.ts';
import { HOST } from '../messages.ts';
import { SocketReader, parseHeader, writeHeader } from './raw-wire.ts';
import { runSystemWorker } from './runtime.ts';
import type { Connection, Driver, Moved, RunningServer } from './runtime.ts';

const CHUNK = 1024 * 1024;

/** Resolve a client path inside root (the baseline trusts its client, but stays inside root). */
function inside(root: string, p: string): string {
  return path.join(root, path.posix.normalize('/' + p));
}

/** Receive `size` bytes from `reader` into `file`, hashing on the fly when `hash`. */
async function receiveToFile(reader: SocketReader, size: number, file: string, hash: boolean): Promise<Moved> {
  const out: WriteStream = createWriteStream(file, { highWaterMark: CHUNK });
  const hasher = hash ? createHash('sha256') : undefined;
  out.on('drain', () => reader.resume());
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  await Promise.race([
    reader.bytes(size, (chunk) => {
      hasher?.update(chunk);
      return out.write(chunk);
    }),
    failed,
  ]);
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return hasher ? { bytes: size, sha256: hasher.digest('hex') } : { bytes: size };
}

/** Send `file` down `socket` in 1 MiB reads, without ending the socket. */
async function sendFile(socket: net.Socket, file: string): Promise<void> {
  const input = createReadStream(file, { highWaterMark: CHUNK });
  input.pipe(socket, { end: false });
  await once(input, 'end');
}

async function handleConnection(socket: net.Socket, root: string, hash: boolean): Promise<void> {
  socket.setNoDelay(true);
  const reader = new SocketReader(socket);
  for (;;) {
    const header = parseHeader(await reader.line());
    if (header.op === 'echo') {
      const rest = reader.detach();
      if (rest !== undefined) socket.write(rest);
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.resume();
      return;
    }
    const file = inside(root, String(header.path));
    if (header.op === 'upload') {
      const moved = await receiveToFile(reader, Number(header.size), file, hash);
      writeHeader(socket, moved);
    } else if (header.op === 'download') {
      writeHeader(socket, { size: statSync(file).size });
      await sendFile(socket, file);
    } else {
      throw new Error(`unknown op ${String(header.op)}`);
    }
  }
}

async function startServer(config: ServerConfig, hash: boolean): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    handleConnection(socket, config.root, hash).catch(() => socket.destroy());
  };
  const server = config.tls
    ? tls.createServer({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }, onConnection)
    : net.createServer(onConnection);
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    dataDir: config.root,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

async function dial(config: ClientConfig): Promise<net.Socket> {
  const socket = config.tlsCa
    ? tls.connect({ host: config.host, port: config.port, ca: readFileSync(config.tlsCa), servername: 'localhost' })
    : net.connect({ host: config.host, port: config.port });
  await once(socket, config.tlsCa ? 'secureConnect' : 'connect');
  socket.setNoDelay(true);
  return socket;
}

class RawConnection implements Connection {
  private echo: { socket: net.Socket; reader: SocketReader } | undefined;
  private readonly pingBody = Buffer.alloc(8);

  constructor(
    private readonly config: ClientConfig,
    private readonly socket: net.Socket,
    private readonly reader: SocketReader,
    private readonly hash: boolean,
  ) {}

  async upload(local: string, remote: string): Promise<Moved> {
    const size = statSync(local).size;
    writeHeader(this.socket, { op: 'upload', path: remote, size });
    await sendFile(this.socket, local);
    const reply = parseHeader(await this.reader.line());
    return typeof reply.sha256 === 'string' ? { bytes: Number(reply.bytes), sha256: reply.sha256 } : { bytes: Number(reply.bytes) };
  }

  async download(remote: string, local: string): Promise<Moved> {
    writeHeader(this.socket, { op: 'download', path: remote });
    const reply = parseHeader(await this.reader.line());
    return receiveToFile(this.reader, Number(reply.size), local, this.hash);
  }

  async ping(): Promise<void> {
    if (this.echo === undefined) {
      const socket = await dial(this.config);
      writeHeader(socket, { op: 'echo' });
      this.echo = { socket, reader: new SocketReader(socket) };
    }
    const { socket, reader } = this.echo;
    this.pingBody.writeDoubleBE(performance.now());
    socket.write(this.pingBody);
    await reader.bytes(8, () => true);
  }

  async close(): Promise<void> {
    this.echo?.socket.destroy();
    this.socket.destroy();
  }
}

/** Run a baseline worker: `hash` makes the receiving side hash (the `raw` systems) or not (`pipe`). */
export function runRawSystem(options: { readonly hash: boolean }): void {
  const driver: Driver = {
    maxInFlight: 1,
    pingDuringTransfer: false,
    async connect(config) {
      const socket = await dial(config);
      return new RawConnection(config, socket, new SocketReader(socket), options.hash);
    },
  };
  runSystemWorker({
    server: (config) => startServer(config, options.hash),
    client: async () => driver,
  });
}
