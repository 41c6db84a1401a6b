import { PassThrough, type Readable, type Writable } from 'node:stream';
import { EventEmitter } from 'eventemitter3';
import type { Permission } from '../protocol/operations.ts';
import { FileShareError, toFileShareError } from '../errors.ts';
import { aliased } from '../options.ts';
import { ClientMetrics } from '../metrics/events.ts';
import type { MeasureSummary } from '../metrics/summary.ts';
import type { Entry, OperationName, RequestOf } from '../protocol/operations.ts';
import { abortError, onAbort, throwIfAborted } from './abort.ts';
import { ClientChannel } from './channel.ts';
import { normalizeFingerprint } from './fingerprint.ts';
import { download } from './download.ts';
import { type MeasureOptions, type MeasureResult, measure } from './measure.ts';
import { type ProbeGrant, type ProbeOptions, parseProbeGrant, runProbes } from './probe.ts';
import type { UdpSummary } from '../metrics/probe-summary.ts';
import { type FileShareClientOptions, type ResolvedClientOptions, resolveClientOptions } from './options.ts';
import { parseEntry } from './entries.ts';
import type { DownloadOptions, TransferResult, UploadOptions } from './transfer-types.ts';
import { upload } from './upload.ts';
import type { FolderOptions, FolderResult } from './folder-types.ts';
import { downloadDir, uploadDir } from './folders.ts';
import { type Batcher, batcherFor } from './upload-batch.ts';
import { defaultFolderConcurrency } from './folder-walk.ts';
import { LocalHashCache } from './local-hash.ts';
import { sync, type SyncOptions, type SyncResult } from './sync.ts';

/** Typed events of {@link FileShareClient}. */
export interface ClientEvents {
  /**
   * The connection closed; `error` says why when it was not `close()` or `logout()`: `ECLOSED`
   * ("connection lost: ...") when it dropped, `ETIMEDOUT` when a timeout ended it, `EBUSY` when
   * the server refused it at connect.
   */
  close: [error: FileShareError | undefined];
  /** The server announced it is shutting down; requests in flight may finish, new ones fail. */
  goaway: [GoAwayEvent];
}

/** Options of {@link FileShareClient.stat}. */
export interface StatOptions extends CallOptions {
  /** Also return a file's SHA-256, computed by the server. @default false */
  sha256?: boolean;
}

/**
 * Options every request takes. An abort makes the call reject with `EABORTED` at once and tells the
 * server to stop; an operation the server had already carried out (a mkdir, a rename) stays done.
 */
export interface CallOptions {
  /** Stop waiting: the call rejects with `EABORTED`. */
  signal?: AbortSignal;
}

/** Options of {@link FileShareClient.mkdir} and {@link FileShareClient.rmdir}. */
export interface FolderCallOptions extends CallOptions {
  /** mkdir: create parents and tolerate an existing folder; rmdir: remove the contents too. @default false */
  recursive?: boolean;
}

/** Options of {@link FileShareClient.ping}. */
export interface PingOptions extends CallOptions {
  /** Give up (ETIMEDOUT, and a `pingLost` metrics event) after this long, ms. @default the client's `pingTimeout` */
  timeout?: number;
  /** @deprecated The old name of `timeout`. */
  timeoutMs?: number;
}

/** What {@link FileShareClient.stat} resolves to. */
export interface StatEntry extends Entry {
  /** SHA-256 (hex) of a file's content, when asked for with `sha256`. */
  readonly sha256?: string;
}

/** The server announced that it is shutting down (GOAWAY). */
export interface GoAwayEvent {
  /** `ECLOSED`: what new requests on this connection now fail with. */
  readonly code: 'ECLOSED';
  /** The server's reason, for humans. */
  readonly message: string;
}

/** Who is logged in, as the server confirmed. */
export interface LoginResult {
  /** The user logged in, as the server knows it. */
  readonly username: string;
  /** What the server allows this user to do. */
  readonly permissions: readonly Permission[];
  /** A session-resumption token, when the server issues them (see {@link FileShareClient.resume}). */
  readonly resumeToken?: ResumeToken;
}

/**
 * A session-resumption token with what it is bound to on the client's side. It is a credential
 * (whoever holds it can log in as the user until it expires): keep it like a password. Plain
 * JSON, so it can be stored and given to {@link FileShareClient.resume} of another client.
 */
export interface ResumeToken {
  /** The opaque token the server issued. */
  readonly token: string;
  /** The user it logs in. */
  readonly username: string;
  /** When the server stops accepting it, ms since the epoch. */
  readonly expiresAt: number;
  /** The host it was issued by (the client's `host` option). */
  readonly host: string;
  /** The port it was issued by. */
  readonly port: number;
  /**
   * SHA-256 fingerprint (lower-case hex) of the server certificate it was issued under; absent
   * over plain TCP. It is only ever sent to a server presenting that same certificate.
   */
  readonly fingerprint256?: string;
  /** The certificate pin (`tls.fingerprint256`) the client used, normalised; absent without one. */
  readonly pin?: string;
}

/** A Writable that uploads what is written to it; `result` settles when the upload is verified. */
export type UploadStream = Writable & {
  /** Resolves once the server stored and verified the file; rejects if the upload fails (the stream is destroyed with the error). */
  readonly result: Promise<TransferResult>;
};

/** A Readable of a remote file's bytes; `result` settles when the download is verified. */
export type DownloadStream = Readable & {
  /** Resolves once every byte was received and verified; rejects if the download fails (the stream is destroyed with the error). */
  readonly result: Promise<TransferResult>;
};

/**
 * A fileshare client: one connection to a {@link FileShareServer}, on which any number of
 * requests, transfers and pings run concurrently.
 *
 * @example
 * ```ts
 * const client = new FileShareClient({ host: '192.168.1.10', port: 4450 });
 * await client.connect();
 * await client.login('alice', process.env.FILESHARE_PASSWORD!);
 * const { sha256 } = await client.upload('./report.pdf', '/docs/report.pdf', {
 *   onProgress: (p) => console.log(`${p.bytes} / ${p.totalBytes} bytes`),
 * });
 * console.log(await client.list('/docs'), `ping ${await client.ping()} ms`);
 * await client.logout();
 * ```
 */
export class FileShareClient extends EventEmitter<ClientEvents> {
  /** Pings, lost pings, transfer progress and completion, as typed events. */
  readonly metrics = new ClientMetrics();
  private readonly opts: ResolvedClientOptions;
  private channel: ClientChannel | undefined;
  /** SHA-256 of local files by version, for `sync` with `compare: 'sha256'` (in memory, per client). */
  private readonly localHashes = new LocalHashCache();
  private user: LoginResult | undefined;
  /** The UDP probe key of this session, when the server offers probes. */
  private probeGrant: ProbeGrant | undefined;
  private lastToken: ResumeToken | undefined;

  /**
   * Create a client; it does not connect until {@link FileShareClient.connect | connect()}.
   * @param options - see {@link FileShareClientOptions}; an invalid value throws a TypeError with code `EINVAL`.
   */
  constructor(options: FileShareClientOptions = {}) {
    super();
    this.opts = resolveClientOptions(options);
  }

  /** Whether the connection is open. */
  get connected(): boolean {
    return this.channel?.isOpen ?? false;
  }

  /** The logged-in user, if any. */
  get loggedInAs(): LoginResult | undefined {
    return this.user;
  }

  /**
   * Open the connection and exchange HELLO.
   * @throws ECLOSED (nothing listening, unreachable), ETIMEDOUT, ETLS (certificate), EPROTO (version),
   *   EBUSY (the server refused the connection: it is full, the per-address cap, or it is shutting
   *   down; the message says so, and tells it apart from a connection that was lost, ECLOSED)
   */
  async connect(options: CallOptions = {}): Promise<void> {
    if (this.channel?.isOpen) throw new FileShareError('EINVAL', 'already connected');
    const channel = new ClientChannel(
      this.opts,
      (error) => {
        this.user = undefined;
        this.probeGrant = undefined;
        this.emitSafe('close', error);
      },
      (reason) => this.emitSafe('goaway', { code: 'ECLOSED', message: reason }),
    );
    this.channel = channel;
    await channel.open(options.signal);
  }

  /** Log in. @throws EAUTH on bad credentials, ETHROTTLED after too many failures */
  async login(username: string, password: string, options: CallOptions = {}): Promise<LoginResult> {
    return this.loggedIn(await this.call('login', { username, password }, options));
  }

  /**
   * Log in with a session-resumption token instead of a password: the last one this client got
   * from {@link FileShareClient.login} (or a resume), or one given. The server checks it without
   * bcrypt, so reconnecting is cheap. The token is never sent when it expired, when this client
   * uses another certificate pin than the one it was issued under, or when the server presents
   * another certificate (or the connection is TLS where it was TCP, or the other way round).
   * @throws EINVAL (no token), EAUTH (expired, refused: the server's key, the user's password or
   *   permissions changed), ETLS (issued under another pin or certificate), ETHROTTLED, EBUSY
   */
  async resume(token: ResumeToken | undefined = this.lastToken, options: CallOptions = {}): Promise<LoginResult> {
    if (token === undefined) throw new FileShareError('EINVAL', 'no resumption token: log in with a password first');
    const channel = this.requireChannel();
    if (Date.now() >= token.expiresAt) throw new FileShareError('EAUTH', 'the resumption token has expired');
    const pin = this.opts.tls?.fingerprint256 !== undefined ? normalizeFingerprint(this.opts.tls.fingerprint256) : undefined;
    if (pin !== token.pin) throw new FileShareError('ETLS', 'the resumption token was issued under another certificate pin');
    if (channel.peerFingerprint256 !== token.fingerprint256) {
      throw new FileShareError(
        'ETLS',
        'the server presents another certificate (or none) than the one the resumption token was issued under',
      );
    }
    return this.loggedIn(await this.call('resume', { token: token.token }, options));
  }

  /**
   * Reconnect after a dropped connection (or a server restart): close what is left, connect, and
   * log in again with the last resumption token (see {@link FileShareClient.resume}).
   * @throws what connect() and resume() throw; EINVAL when there is no token
   */
  async reconnect(options: CallOptions = {}): Promise<LoginResult> {
    const token = this.lastToken;
    if (token === undefined) throw new FileShareError('EINVAL', 'no resumption token: log in with a password first');
    await this.close();
    await this.connect(options);
    return this.resume(token, options);
  }

  /** The last session-resumption token this client received, if any. */
  get resumeToken(): ResumeToken | undefined {
    return this.lastToken;
  }

  private loggedIn(response: Record<string, unknown>): LoginResult {
    const permissions = Array.isArray(response.permissions) ? (response.permissions as Permission[]) : [];
    const username = String(response.username);
    if (typeof response.resumeToken === 'string' && typeof response.resumeExpiresAt === 'number') {
      const fingerprint256 = this.channel?.peerFingerprint256;
      const pin = this.opts.tls?.fingerprint256 !== undefined ? normalizeFingerprint(this.opts.tls.fingerprint256) : undefined;
      this.lastToken = {
        token: response.resumeToken,
        username,
        expiresAt: response.resumeExpiresAt,
        host: this.opts.host,
        port: this.opts.port,
        ...(fingerprint256 !== undefined ? { fingerprint256 } : {}),
        ...(pin !== undefined ? { pin } : {}),
      };
    }
    this.user = {
      username,
      permissions,
      ...(this.lastToken && this.lastToken.username === username ? { resumeToken: this.lastToken } : {}),
    };
    this.probeGrant = parseProbeGrant(response);
    return this.user;
  }

  /** Log out; the server acknowledges and closes the connection. */
  async logout(options: CallOptions = {}): Promise<void> {
    const channel = this.requireChannel();
    channel.expectClose();
    await this.call('logout', {}, options);
    this.user = undefined;
    this.probeGrant = undefined;
    await channel.whenClosed();
  }

  /** Close the connection at once; pending requests fail with `ECLOSED`. Safe to call twice. */
  async close(): Promise<void> {
    await this.channel?.close(false);
  }

  /**
   * Upload a local file (path) or a Readable to `remotePath`. Resolves when the server has stored
   * and verified it (SHA-256 on both sides). Nothing appears under `remotePath` unless it succeeds.
   * @throws EEXIST (target exists, no `overwrite`), EACCES, ENOENT (remote folder or local file), EINTEGRITY, EABORTED, ETOOLARGE, EQUOTA
   */
  upload(source: string | Readable, remotePath: string, options?: UploadOptions): Promise<TransferResult> {
    return upload(this.context(), source, remotePath, options);
  }

  /**
   * Download `remotePath` to a local path (an existing folder receives the file's base name) or into
   * a Writable (ended on success, destroyed on failure: the rejection carries the error). A local
   * file appears only once its SHA-256 matched.
   * @throws ENOENT, EISDIR, EACCES, EINTEGRITY, EABORTED
   */
  download(remotePath: string, destination: string | Writable, options?: DownloadOptions): Promise<TransferResult> {
    return download(this.context(), remotePath, destination, options);
  }

  /** The stream form of {@link upload}: write the bytes, end the stream, await `result`. */
  createUploadStream(remotePath: string, options?: UploadOptions): UploadStream {
    const stream = new PassThrough({ highWaterMark: this.opts.chunkSize });
    const result = this.upload(stream, remotePath, options);
    result.catch((err: Error) => stream.destroy(err));
    return Object.assign(stream, { result }) as UploadStream;
  }

  /** The stream form of {@link download}: read the bytes; the stream errors if the download fails. */
  createDownloadStream(remotePath: string, options?: DownloadOptions): DownloadStream {
    const stream = new PassThrough({ highWaterMark: this.opts.chunkSize });
    // a failure destroys the stream with its error; a reader that is not listening yet finds it in
    // `errored` (and `result`) instead of the process crashing on an unhandled 'error' event
    stream.on('error', () => {});
    const result = this.download(remotePath, stream, options);
    result.catch((err: Error) => stream.destroy(err));
    return Object.assign(stream, { result }) as DownloadStream;
  }

  /** The entries of a remote folder, sorted by name. */
  async list(dir = '/', options: CallOptions = {}): Promise<Entry[]> {
    const entries: Entry[] = [];
    await this.call('list', { path: dir }, options, (part) => {
      if (!Array.isArray(part.entries)) throw new FileShareError('EPROTO', 'list batch without entries');
      for (const raw of part.entries) entries.push(parseEntry(raw));
    });
    return entries;
  }

  /**
   * The entries of a remote folder, batch by batch as the server sends them, without collecting the
   * folder: for folders too big to hold at once (a bucket prefix with millions of keys). A server
   * whose storage pages (S3) streams its pages in the storage's order, which is not always by name
   * (S3 puts the file `a.txt` before the folder `a`); other storages send the folder sorted by
   * name. The server sends a batch only when the connection can take it; batches that arrived
   * before the loop asked for them wait in memory. Leaving the loop early cancels the listing.
   *
   * @example
   * ```ts
   * for await (const batch of client.listPages('/archive')) for (const entry of batch) console.log(entry.name);
   * ```
   */
  async *listPages(dir = '/', options: CallOptions = {}): AsyncGenerator<Entry[], void, undefined> {
    const queue: Entry[][] = [];
    let wake: (() => void) | undefined;
    let settled = false;
    let failure: unknown;
    const stop = new AbortController();
    const outer = options.signal;
    const forward = (): void => stop.abort(outer?.reason);
    if (outer?.aborted) forward();
    else outer?.addEventListener('abort', forward, { once: true });
    const listing = this.call('list', { path: dir, sorted: false }, { signal: stop.signal }, (part) => {
      if (!Array.isArray(part.entries)) throw new FileShareError('EPROTO', 'list batch without entries');
      queue.push(part.entries.map(parseEntry));
      wake?.();
    }).then(
      () => undefined,
      (err: unknown) => {
        failure = err;
      },
    );
    void listing.finally(() => {
      settled = true;
      wake?.();
    });
    try {
      for (;;) {
        const batch = queue.shift();
        if (batch) {
          yield batch;
          continue;
        }
        if (settled) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      outer?.removeEventListener('abort', forward);
      if (!settled) {
        stop.abort(new FileShareError('EABORTED', 'the listing was left early'));
        await listing;
      }
    }
  }

  /**
   * Metadata of a remote file or folder. With `sha256`, a file's entry also carries the SHA-256 of
   * its content, computed by the server and cached there per file version (an unchanged file is not
   * read again).
   */
  async stat(path: string, options: StatOptions = {}): Promise<StatEntry> {
    const raw = await this.call('stat', options.sha256 ? { path, sha256: true } : { path }, options);
    const entry: StatEntry = parseEntry(raw);
    if (options.sha256 && entry.type === 'file') {
      const sha256 = (raw as { sha256?: unknown }).sha256;
      if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))
        throw new FileShareError('EPROTO', 'the server sent no valid SHA-256 for stat');
      return { ...entry, sha256 };
    }
    return entry;
  }

  /**
   * Upload a local folder's whole tree into `remoteDir` (created with its parents if missing), empty
   * folders included. Files move `concurrency` at a time over this one connection, each atomic and
   * SHA-256-verified, with its modification time (unless `preserveMtime: false`). Existing remote
   * files are skipped unless `overwrite`; symbolic links are skipped unless `followSymlinks`.
   * @throws the first file's error (others in flight are cancelled) unless `continueOnError`;
   *   `EABORTED` on `signal`; `ENOENT` / `ENOTDIR` when `localDir` is not a folder
   */
  uploadDir(localDir: string, remoteDir: string, options?: FolderOptions): Promise<FolderResult> {
    return uploadDir(this, localDir, remoteDir, this.folderDefaults(options), this.batcher());
  }

  /**
   * Download a remote folder's whole tree into `localDir` (created if missing); the reverse of
   * {@link uploadDir}, with the same options. Local symbolic links in the way are never written
   * through, so no byte lands outside `localDir`.
   * @throws as {@link uploadDir}; `ENOENT` / `ENOTDIR` when `remoteDir` is not a folder
   */
  downloadDir(remoteDir: string, localDir: string, options?: FolderOptions): Promise<FolderResult> {
    return downloadDir(this, remoteDir, localDir, this.folderDefaults(options));
  }

  /**
   * Make `remoteDir` match `localDir` (`direction: 'up'`) or the reverse (`'down'`), moving only files
   * that differ (by size and mtime, or by SHA-256 with `compare: 'sha256'`). With `delete`, what the
   * source no longer has is removed from the target; with `dryRun`, only the plan is computed.
   * @throws as {@link uploadDir}; a file/folder conflict fails unless `continueOnError`
   */
  sync(localDir: string, remoteDir: string, options: SyncOptions): Promise<SyncResult> {
    return sync(this, this.localHashes, localDir, remoteDir, this.folderDefaults(options), this.batcher());
  }

  /** Folder options with the default concurrency fitted to what this server allows. */
  private folderDefaults<T extends FolderOptions>(options: T | undefined): T {
    const given = options ?? ({} as T);
    if (given.concurrency !== undefined) return given;
    return { ...given, concurrency: defaultFolderConcurrency(this.channel?.serverHello?.maxRequests ?? 0) };
  }

  /** Create a remote folder; `recursive` creates parents and tolerates an existing folder. */
  async mkdir(path: string, options: FolderCallOptions = {}): Promise<void> {
    await this.call('mkdir', { path, recursive: options.recursive === true }, options);
  }

  /** Remove a remote folder; `recursive` removes its contents too. */
  async rmdir(path: string, options: FolderCallOptions = {}): Promise<void> {
    await this.call('rmdir', { path, recursive: options.recursive === true }, options);
  }

  /** Delete a remote file. */
  async delete(path: string, options: CallOptions = {}): Promise<void> {
    await this.call('delete', { path }, options);
  }

  /** Rename or move a remote file or folder; fails with `EEXIST` rather than overwrite. */
  async rename(from: string, to: string, options: CallOptions = {}): Promise<void> {
    await this.call('rename', { from, to }, options);
  }

  /**
   * Round-trip time of one ping, in ms. Emits `ping` on {@link metrics}, or `pingLost` and
   * throws ETIMEDOUT when no answer comes within `timeout`.
   */
  async ping(options: PingOptions = {}): Promise<number> {
    const timeoutMs = aliased(options, 'timeout', 'timeoutMs') ?? this.opts.pingTimeout;
    const { seq, done } = this.requireChannel().ping(timeoutMs, options.signal);
    try {
      const rttMs = await done;
      this.metrics.emit('ping', { seq, rttMs, timestamp: Date.now() });
      return rttMs;
    } catch (err) {
      const error = toFileShareError(err);
      if (error.code === 'ETIMEDOUT') this.metrics.emit('pingLost', { seq, timeoutMs, timestamp: Date.now() });
      throw error;
    }
  }

  /**
   * Whether the server handed this session a UDP probe key at login (its `udpProbes` option is on).
   * Probes may still be blocked on the way: only {@link probe} can tell.
   */
  get udpProbesOffered(): boolean {
    return this.probeGrant !== undefined;
  }

  /**
   * Measure real packet loss with UDP probes: `count` authenticated datagrams every `interval` ms,
   * each answered by the server with one of the same size. Unlike {@link ping}, nothing
   * retransmits them, so a dropped packet shows as a lost probe instead of a latency spike.
   * Emits `probe` and `probeLost` on {@link metrics}. Resolves to `{ available: false, reason }`
   * when the server offers no probes or none was answered (UDP blocked).
   * @throws ENOTAUTH before login, ECLOSED when the connection closes, EABORTED when `signal` is already aborted
   */
  async probe(options: ProbeOptions = {}): Promise<UdpSummary> {
    const channel = this.requireChannel();
    if (!this.user) throw new FileShareError('ENOTAUTH', 'log in first: the UDP probe key comes with the login');
    const grant = this.probeGrant;
    if (!grant) {
      return {
        available: false,
        sent: 0,
        reason: 'the server does not offer UDP probes (its udpProbes option is off, or its UDP port could not be bound)',
      };
    }
    const address = channel.remoteAddress;
    if (!address || !channel.isOpen) throw new FileShareError('ECLOSED', 'not connected');
    return runProbes(
      { grant, address, localAddress: this.opts.localAddress, metrics: this.metrics, isOpen: () => channel.isOpen },
      options,
    );
  }

  /**
   * Measure the connection as the seed's performance module did, and more: `pings` pings every
   * `interval` ms (lost after `timeout`) and, at the same time, `probes` UDP probes, then an
   * upload of `throughputBytes` that the server discards. Resolves to average, min, max, p50, p95
   * latency, jitter, throughput and loss of the TCP pings, and the UDP figures in `udp`.
   */
  measure(options?: MeasureOptions): Promise<MeasureResult> {
    const probe = (o: ProbeOptions): Promise<UdpSummary> =>
      this.user
        ? this.probe(o)
        : Promise.resolve({ available: false, sent: 0, reason: 'not logged in: the UDP probe key comes with the login' });
    return measure(this.context(), (o) => this.ping(o), probe, options);
  }

  /** Batches of small uploads for the folder calls, when connected to a server that takes them. */
  private batcher(): Batcher | undefined {
    return this.channel?.serverHello ? batcherFor(() => this.context()) : undefined;
  }

  private context() {
    return { channel: this.requireChannel(), options: this.opts, metrics: this.metrics };
  }

  /** Send a control request and await its final response (bounded by `requestTimeout` and `signal`). */
  private async call<Op extends OperationName>(
    op: Op,
    args: RequestOf<Op>,
    { signal }: CallOptions,
    onPartial?: (part: Record<string, unknown>) => void,
  ) {
    throwIfAborted(signal);
    const channel = this.requireChannel();
    const { id, done, entry } = channel.request(op, args, onPartial ? { onPartial } : {}, this.opts.requestTimeout);
    const stopListening = onAbort(signal, () => {
      channel.cancel(id);
      entry.reject(abortError(signal!));
    });
    try {
      return await done;
    } finally {
      stopListening();
    }
  }

  private requireChannel(): ClientChannel {
    if (!this.channel) throw new FileShareError('ECLOSED', 'not connected: call connect() first');
    return this.channel;
  }

  private emitSafe<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ClientEvents[K]) => boolean)(event, ...args);
    } catch {
      /* a throwing listener must not break the connection's close path */
    }
  }
}
