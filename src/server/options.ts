import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { AuthProvider } from '../auth/types.ts';
import type { Storage } from '../storage/types.ts';
import { optionError, positiveInteger, resolveTransferOptions } from '../options.ts';
import type { LoginThrottleOptions } from './login-guard.ts';
import type { UdpProbeOptions } from './probe-responder.ts';
import type { SharedState } from './shared-state.ts';
import type { ResumptionOptions } from './resume-tokens.ts';

/** TLS settings of the server: at least a key and a certificate (PEM). */
export type ServerTlsOptions = TlsOptions & Required<Pick<SecureContextOptions, 'key' | 'cert'>>;

/**
 * Options of {@link FileShareServer}. Every limit on connections, time and memory has a finite
 * default; the size of files (`maxFileSize`, and per-user quotas) is bounded only by the disk unless
 * set (docs/security.md says why).
 */
export interface FileShareServerOptions {
  /** A folder to serve (created if missing), or a {@link Storage} backend. */
  root: string | Storage;
  /** Checks credentials; see {@link MemoryAuthProvider} and {@link JsonFileAuthProvider}. */
  auth: AuthProvider;
  /** Address to listen on. @default '0.0.0.0' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 4450 */
  port?: number;
  /** Serve over TLS with this key and certificate. Without it, passwords cross the network in clear. */
  tls?: ServerTlsOptions;
  /** Most simultaneous connections; one more is refused with `EBUSY`. @default 256 */
  maxConnections?: number;
  /** Most simultaneous connections from one IP address. @default 32 */
  maxConnectionsPerAddress?: number;
  /** Close a connection with no frame and no transfer for this long, ms. @default 300000 */
  idleTimeout?: number;
  /**
   * Close a connection that has not completed HELLO in this time, ms. With TLS, the TLS handshake
   * before it is bounded by the same time. @default 10000
   */
  handshakeTimeout?: number;
  /** Close a connection that has not logged in within this time, ms. @default 30000 */
  loginTimeout?: number;
  /**
   * A frame that has begun arriving must complete within this time, ms: a client that trickles a
   * byte at a time is dropped. @default 30000
   */
  frameTimeout?: number;
  /**
   * The stall rule of uploads: while the client holds credit, it must send at least `stallBytes`
   * of an upload's data in every `stallTimeout`, ms; otherwise the connection is closed with
   * `ETIMEDOUT` (a DATA frame trickled a byte at a time is cut this way). @default 60000
   */
  stallTimeout?: number;
  /** See `stallTimeout`. @default 16384 */
  stallBytes?: number;
  /** Data of an unfinished resumable upload is removed after this long without progress, ms. @default 86400000 (24 h) */
  resumableUploadTtl?: number;
  /** Most requests open at once on one connection (`EBUSY` beyond). @default 64 */
  maxRequestsInFlight?: number;
  /**
   * Bytes of a new (not resumed) upload a client may send right behind its REQUEST, before the
   * go-ahead: a small file then takes one round trip instead of two. The server holds them until
   * the upload's temporary file is open (and drops them when the request is refused); more than
   * this before the go-ahead closes the connection with `EPROTO`. At most `window`; 0 turns it off
   * (clients then wait for the go-ahead, as with servers before it). @default 65536 (or `window`, when smaller)
   */
  eagerUploadBytes?: number;
  /**
   * Most eager upload bytes (see `eagerUploadBytes`) held for all the requests of one connection
   * together, so that many requests in flight cannot multiply the allowance. @default 1048576
   */
  eagerUploadTotal?: number;
  /**
   * Most files one `upload-batch` request may carry: a folder upload then sends its small files
   * several to a request (at most 64 KiB of them in all), each still stored atomically and checked
   * by its own SHA-256, which saves a request's work on both sides per file. 0 turns batches off
   * (clients then send every file on its own, as to servers before them). At most 256. @default 32
   */
  maxBatchFiles?: number;
  /** Largest frame accepted, bytes. @default 2097152 */
  maxFrameSize?: number;
  /** Largest DATA frame body sent, bytes; at most `window`. @default 262144 */
  chunkSize?: number;
  /** Per-stream flow-control window granted to uploading clients, bytes. @default 2097152 */
  window?: number;
  /**
   * Largest file anyone may upload, bytes (per-user limits may be lower). @default unlimited: only
   * the disk bounds it (a full disk fails the upload with ENOSPC and leaves nothing behind)
   */
  maxFileSize?: number;
  /** How long `close()` lets in-flight requests finish before cutting them off, ms. @default 10000 */
  closeTimeout?: number;
  /** When `root` is a folder: fsync each uploaded file before it is renamed into place. @default false */
  fsync?: boolean;
  /** Minimum interval between progress events of one transfer, ms. @default 100 */
  progressInterval?: number;
  /** @deprecated The old name of `progressInterval`. */
  progressIntervalMs?: number;
  /**
   * Most login attempts in progress at once (waiting for the throttle's turn, or for a bcrypt
   * thread); one more is refused at once with `EBUSY`, so a storm of logins cannot queue without
   * bound. Each waiting attempt holds its connection open, and a cost-10 check takes 50-100 ms of
   * one core: the default drains in a few seconds on two cores. @default 128
   */
  maxPendingLogins?: number;
  /** Brute-force protection of logins, or `false` to turn it off. @default see {@link LoginThrottleOptions} */
  loginThrottle?: LoginThrottleOptions | false;
  /**
   * Answer authenticated UDP probes on the TCP port's number, so that clients can measure real
   * packet loss (`client.probe()`, `client.measure()`): `true`, or limits. If that UDP port cannot
   * be bound, the server runs without probes and says so in a `warning`. @default false
   */
  udpProbes?: boolean | UdpProbeOptions;
  /**
   * State shared with the other nodes of a cluster (e.g. `PostgresSharedState` from
   * `fileshare/postgres`): failed logins counted on any node throttle every node, a user's quota
   * holds across all nodes, and a resumable upload runs on one node at a time. Default: this
   * node's memory only (resume locks: the storage backend's). See docs/scaling.md.
   */
  sharedState?: SharedState;
  /**
   * Session resumption: a successful login answers a short-lived token with which the client can
   * log in again (after a dropped connection or a server restart) without bcrypt; `false` turns it
   * off. Needs an auth provider with `lookup` (both built-in ones have it). See docs/security.md
   * for the trade-off. @default `{}`: a random key per server instance, tokens valid 15 minutes
   */
  resumption?: ResumptionOptions | false;
}

/** @internal */
export type ResolvedServerOptions = Required<
  Omit<FileShareServerOptions, 'tls' | 'maxFileSize' | 'loginThrottle' | 'udpProbes' | 'sharedState' | 'resumption' | 'progressIntervalMs'>
> &
  Pick<FileShareServerOptions, 'tls' | 'maxFileSize' | 'loginThrottle' | 'sharedState' | 'resumption'> & {
    udpProbes: Required<UdpProbeOptions> | undefined;
  };

/** @internal */
export function resolveServerOptions(options: FileShareServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) throw optionError('FileShareServer options must be an object');
  const { root, auth } = options;
  if (
    !(typeof root === 'string' && root.length > 0) &&
    !(typeof root === 'object' && root !== null && typeof root.openUpload === 'function')
  ) {
    throw optionError(`options.root must be a folder path or a Storage, got ${JSON.stringify(root)}`);
  }
  if (typeof auth !== 'object' || auth === null || typeof auth.authenticate !== 'function') {
    throw optionError('options.auth must be an AuthProvider (an object with an authenticate method)');
  }
  const port = positiveInteger('port', options.port, 4450, 0, 65535);
  const resolved: ResolvedServerOptions = {
    root,
    auth,
    host: options.host ?? '0.0.0.0',
    port,
    tls: options.tls,
    maxConnections: positiveInteger('maxConnections', options.maxConnections, 256),
    maxConnectionsPerAddress: positiveInteger('maxConnectionsPerAddress', options.maxConnectionsPerAddress, 32),
    idleTimeout: positiveInteger('idleTimeout', options.idleTimeout, 300_000),
    handshakeTimeout: positiveInteger('handshakeTimeout', options.handshakeTimeout, 10_000),
    loginTimeout: positiveInteger('loginTimeout', options.loginTimeout, 30_000),
    frameTimeout: positiveInteger('frameTimeout', options.frameTimeout, 30_000),
    ...resolveTransferOptions(options),
    resumableUploadTtl: positiveInteger('resumableUploadTtl', options.resumableUploadTtl, 86_400_000),
    maxRequestsInFlight: positiveInteger('maxRequestsInFlight', options.maxRequestsInFlight, 64),
    eagerUploadBytes: 0,
    eagerUploadTotal: 0,
    maxBatchFiles: positiveInteger('maxBatchFiles', options.maxBatchFiles, 32, 0, 256),
    maxFileSize: options.maxFileSize === undefined ? undefined : positiveInteger('maxFileSize', options.maxFileSize, 0, 0),
    closeTimeout: positiveInteger('closeTimeout', options.closeTimeout, 10_000, 0),
    fsync: options.fsync ?? false,
    maxPendingLogins: positiveInteger('maxPendingLogins', options.maxPendingLogins, 128),
    loginThrottle: options.loginThrottle,
    udpProbes: resolveUdpProbes(options.udpProbes),
    sharedState: options.sharedState,
    resumption: options.resumption,
  };
  const eagerBytes = positiveInteger('eagerUploadBytes', options.eagerUploadBytes, Math.min(65_536, resolved.window), 0, 0xffffffff);
  if (eagerBytes > resolved.window) {
    throw optionError(`options.eagerUploadBytes (${eagerBytes}) must not exceed options.window (${resolved.window})`);
  }
  const eagerTotal = positiveInteger('eagerUploadTotal', options.eagerUploadTotal, 1_048_576, 0, 0xffffffff);
  // an explicit allowance above the total would never be usable in full: the total bounds it
  resolved.eagerUploadBytes = eagerTotal === 0 ? 0 : Math.min(eagerBytes, eagerTotal);
  resolved.eagerUploadTotal = resolved.eagerUploadBytes === 0 ? 0 : eagerTotal;
  return resolved;
}

function resolveUdpProbes(value: FileShareServerOptions['udpProbes']): Required<UdpProbeOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null))
    throw optionError(`options.udpProbes must be a boolean or an object, got ${JSON.stringify(value)}`);
  const limits = value === true ? {} : value;
  return {
    maxPerSecond: positiveInteger('udpProbes.maxPerSecond', limits.maxPerSecond, 500),
    maxPerSecondTotal: positiveInteger('udpProbes.maxPerSecondTotal', limits.maxPerSecondTotal, 5000),
  };
}
