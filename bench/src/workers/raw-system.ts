/**
 * The baselines: a plain node:net (node:tls) pipe, file to file, moving the same bytes as the
 * systems under test with the least protocol that still does the job (raw-wire.ts). Three flavours
 * share this code: `raw` hashes what it receives, `pipe` (the bare pipe) does not, and `pipe-sha`
 * hashes on both sides, as fileshare does: the pipe plus nothing but the end-to-end integrity check.
 *
 * - Sender: `fs.createReadStream(file, { highWaterMark: 1 MiB }).pipe(socket)`, `setNoDelay(true)`;
 *   with `hash: 'both'` it hashes each chunk as it hands it to the socket, and the two digests are
 *   compared (the server's after the data of a download, in a header line of its own).
 * - Receiver: writes what arrives to a file (1 MiB write buffer) with backpressure, and unless
 *   `hash: 'none'` also hashes it (SHA-256) on the fly.
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

/** Who hashes the data (SHA-256): nobody (the bare pipe), the receiver (`raw`), or both sides. */
export type RawHashing = 'none' | 'receiver' | 'both';

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

/** Send `file` down `socket` in 1 MiB reads, without ending the socket; its SHA-256 when `hash`. */
async function sendFile(socket: net.Socket, file: string, hash: boolean): Promise<string | undefined> {
  const input = createReadStream(file, { highWaterMark: CHUNK });
  const hasher = hash ? createHash('sha256') : undefined;
  // added before pipe()'s own listener: each chunk is hashed, then written
  if (hasher) input.on('data', (chunk) => hasher.update(chunk as Buffer));
  input.pipe(socket, { end: false });
  await once(input, 'end');
  return hasher?.digest('hex');
}

function checkDigests(sent: string | undefined, received: unknown): void {
  if (sent !== undefined && sent !== received) throw new Error(`SHA-256 mismatch: sent ${sent}, received ${String(received)}`);
}

async function handleConnection(socket: net.Socket, root: string, hashing: RawHashing): Promise<void> {
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
      const moved = await receiveToFile(reader, Number(header.size), file, hashing !== 'none');
      writeHeader(socket, moved);
    } else if (header.op === 'download') {
      writeHeader(socket, { size: statSync(file).size });
      const sha256 = await sendFile(socket, file, hashing === 'both');
      if (sha256 !== undefined) writeHeader(socket, { sha256 });
    } else {
      throw new Error(`unknown op ${String(header.op)}`);
    }
  }
}

async function startServer(config: ServerConfig, hashing: RawHashing): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    handleConnection(socket, config.root, hashing).catch(() => socket.destroy());
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
    private readonly hashing: RawHashing,
  ) {}

  async upload(local: string, remote: string): Promise<Moved> {
    const size = statSync(local).size;
    writeHeader(this.socket, { op: 'upload', path: remote, size });
    const sent = await sendFile(this.socket, local, this.hashing === 'both');
    const reply = parseHeader(await this.reader.line());
    checkDigests(sent, reply.sha256);
    return typeof reply.sha256 === 'string' ? { bytes: Number(reply.bytes), sha256: reply.sha256 } : { bytes: Number(reply.bytes) };
  }

  async download(remote: string, local: string): Promise<Moved> {
    writeHeader(this.socket, { op: 'download', path: remote });
    const reply = parseHeader(await this.reader.line());
    const moved = await receiveToFile(this.reader, Number(reply.size), local, this.hashing !== 'none');
    if (this.hashing === 'both') checkDigests(String(parseHeader(await this.reader.line()).sha256), moved.sha256);
    return moved;
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

/** Run a baseline worker: `hash` says who hashes (see {@link RawHashing}). */
export function runRawSystem(options: { readonly hash: RawHashing }): void {
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
