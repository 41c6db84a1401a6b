import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import { FileShareError } from '../errors.ts';
import type { ServerMetrics } from '../metrics/events.ts';
import { LocalStorage } from '../storage/local-storage.ts';
import { ServerCore } from './core.ts';
import { ProbeResponder } from './probe-responder.ts';
import type { ServerAddress, ServerEvents, WarningEvent } from './events.ts';
import { type FileShareServerOptions, type ResolvedServerOptions, resolveServerOptions } from './options.ts';

/**
 * A fileshare server: accepts clients over TCP (or TLS), checks their logins against an
 * {@link AuthProvider} and serves a folder (or any {@link Storage}).
 *
 * @example
 * ```ts
 * const server = new FileShareServer({
 *   root: './server_data',
 *   auth: new JsonFileAuthProvider('./users.json'),
 * });
 * server.on('login', (e) => console.log(`${e.username} logged in from ${e.connection.remoteAddress}`));
 * const { port } = await server.listen();
 * ```
 */
export class FileShareServer extends EventEmitter<ServerEvents> {
  /** Transfer progress and completion, as typed events. */
  readonly metrics: ServerMetrics;
  private readonly opts: ResolvedServerOptions;
  private readonly core: ServerCore;
  private listener: net.Server | undefined;
  /** Every accepted TCP socket (for TLS, from before its handshake) until it closes. */
  private readonly sockets = new Set<net.Socket>();
  /** Kinds of TLS/plain-text mismatch already reported (each is logged once). */
  private readonly mismatchesNoted = new Set<string>();
  private closing: Promise<void> | undefined;

  /**
   * Create a server; it does nothing until {@link FileShareServer.listen | listen()}.
   * @param options - see {@link FileShareServerOptions}; an invalid value throws a TypeError with code `EINVAL`.
   */
  constructor(options: FileShareServerOptions) {
    super();
    this.opts = resolveServerOptions(options);
    this.core = new ServerCore(this.opts, (event, ...args) => this.emitSafe(event, ...args));
    this.metrics = this.core.metrics;
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.core.connectionCount;
  }

  /**
   * Start listening. Resolves to the bound address (use port 0 in options to get a free port).
   * @throws when the address is in use or the root folder cannot be created.
   */
  async listen(): Promise<ServerAddress> {
    if (this.closing) throw new FileShareError('ECLOSED', 'the server was closed');
    if (this.listener) throw new FileShareError('EINVAL', 'the server is already listening');
    const { root, fsync, tls: tlsOptions, host, port } = this.opts;
    if (typeof root === 'string') await mkdir(root, { recursive: true });
    const storage = typeof root === 'string' ? new LocalStorage(root, { fsync }) : root;
    const onSocket = (socket: net.Socket) => this.core.accept(socket, tlsOptions !== undefined);
    // the TLS handshake comes before HELLO: bound it by the same handshakeTimeout (Node's default is 120 s)
    const listener = tlsOptions
      ? tls.createServer({ handshakeTimeout: this.opts.handshakeTimeout, ...tlsOptions }, onSocket)
      : net.createServer(onSocket);
    // Every TCP socket, from its accept on. A TLS client still in its handshake has no session yet,
    // and listener.close() waits for it: shutdown() cuts such stragglers once the sessions are done.
    listener.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      // a TLS client on a plain port: the session fails it as a bad frame; the log says why, once.
      // (The session's own 'data' listener is already attached, so this one takes nothing from it.)
      if (!tlsOptions) {
        socket.once('data', (chunk: Buffer) => {
          if (looksLikeTlsHello(chunk))
            this.noteMismatch(
              'tls-on-plain',
              `a client at ${socket.remoteAddress} started a TLS handshake, but this server has no TLS: it must connect without TLS (or give the server tls: { key, cert })`,
            );
        });
      }
    });
    // failed TLS handshakes and resets are the client's problem, not the server's; a plain-text
    // client on the TLS port is worth one line in the log
    listener.on('tlsClientError', (err: Error & { code?: string }, socket: net.Socket) => {
      if (isPlainTextOnTls(err))
        this.noteMismatch(
          'plain-on-tls',
          `a client at ${socket.remoteAddress} spoke plain text to this TLS server: it must connect with TLS`,
        );
      socket.destroy();
    });
    this.listener = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err) => {
        this.listener = undefined; // not listening: a later listen() may try again (another port, say)
        reject(err);
      });
      listener.listen({ host, port }, () => {
        listener.removeAllListeners('error');
        resolve();
      });
    });
    listener.on('error', (err) => this.emitSafe('error', err));
    this.core.start(storage);
    const bound = this.address();
    if (this.opts.udpProbes) await this.startProber(bound);
    if (!tlsOptions && !isLoopback(bound.address)) {
      this.warn(
        `fileshare is listening on ${bound.address}:${bound.port} without TLS: passwords and files cross the network in clear. Pass tls: { key, cert } to encrypt.`,
      );
    }
    this.emitSafe('listening', bound);
    return bound;
  }

  /**
   * The UDP port answering probes: the TCP port's number, or undefined when the `udpProbes` option
   * is off or that UDP port could not be bound.
   */
  get udpProbePort(): number | undefined {
    return this.core.prober?.port;
  }

  /** @internal Counters of the probe responder, for tests. */
  get probeCounters() {
    return this.core.prober?.counters;
  }

  /** Bind the probe responder beside the listener; a failure leaves the server without probes, with a warning. */
  private async startProber(bound: ServerAddress): Promise<void> {
    try {
      this.core.prober = await ProbeResponder.bind(bound.address, bound.port, this.opts.udpProbes!, (err) =>
        this.emitSafe('error', new Error(`UDP probe socket: ${err.message}`, { cause: err })),
      );
    } catch (err) {
      this.warn(
        `UDP probes are off: cannot bind UDP ${bound.address}:${bound.port} (${(err as Error).message}); clients will measure no packet loss`,
        'FILESHARE_UDP_PROBES',
      );
    }
  }

  /** The bound address and port. @throws EINVAL before `listen()` resolved. */
  address(): ServerAddress {
    const address = this.listener?.address();
    if (!address || typeof address === 'string') throw new FileShareError('EINVAL', 'the server is not listening');
    return { address: address.address, port: address.port };
  }

  /**
   * Stop accepting connections and end every session gracefully: clients get GOAWAY, requests in
   * flight may finish within `closeTimeout`, then the rest are cut off (unfinished uploads never
   * leave a partial file under their target name: plain ones are discarded, resumable ones keep
   * their hidden data for a resume). Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const listener = this.listener;
    const stopped = listener ? new Promise<void>((resolve) => listener.close(() => resolve())) : Promise.resolve();
    await this.core.shutdown();
    // the sessions are gone; what is left never got one (a TLS handshake in progress, a refusal)
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    await this.core.prober?.close();
    await this.core.release();
    this.emitSafe('close');
  }

  /** Emit without letting a listener's exception escape. */
  private emitSafe<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ServerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      if (event !== 'error') this.emitSafe('error', err as Error);
    }
  }

  private warn(message: string, code: WarningEvent['code'] = 'FILESHARE_PLAINTEXT'): void {
    if (this.listenerCount('warning') > 0) this.emitSafe('warning', { code, message });
    else process.emitWarning(message, { code });
  }

  /** A client speaking TLS to a plain port or the reverse: one warning per kind per server, not one per attempt. */
  private noteMismatch(kind: 'tls-on-plain' | 'plain-on-tls', message: string): void {
    if (this.mismatchesNoted.has(kind)) return;
    this.mismatchesNoted.add(kind);
    this.warn(`${message} (further such attempts are not reported)`, 'FILESHARE_TLS_MISMATCH');
  }
}

/** The start of a TLS record carrying a handshake (a ClientHello): content type 22, version 3.x. */
function looksLikeTlsHello(chunk: Buffer): boolean {
  return chunk.length >= 3 && chunk[0] === 0x16 && chunk[1] === 0x03 && chunk[2]! <= 0x04;
}

/** OpenSSL's complaints when the first bytes on a TLS port are not a TLS record. */
function isPlainTextOnTls(err: Error & { code?: string }): boolean {
  return (
    err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    err.code === 'ERR_SSL_HTTP_REQUEST' ||
    err.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    err.code === 'ERR_SSL_UNKNOWN_PROTOCOL' ||
    /wrong version number|http request|packet length too long|unknown protocol/i.test(err.message)
  );
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === '::ffff:127.0.0.1' || address === 'localhost';
}
