import type { ConnectionOptions } from 'node:tls';
import { optionError, positiveInteger, resolveTransferOptions } from '../options.ts';

/**
 * TLS settings of the client: any `node:tls` connect options (`ca`, `servername`,
 * `rejectUnauthorized`, ...) plus an optional certificate pin.
 */
export interface ClientTlsOptions extends ConnectionOptions {
  /**
   * Pin the server's certificate by its SHA-256 fingerprint (hex, colons optional, as printed by
   * the server app or `openssl x509 -fingerprint -sha256`). When set, the pin replaces CA
   * validation (self-signed certificates work) unless `rejectUnauthorized: true` is also given.
   */
  fingerprint256?: string;
}

/** Options of {@link FileShareClient}. */
export interface FileShareClientOptions {
  /** Server host name or address. @default '127.0.0.1' */
  host?: string;
  /** Server port. @default 4450 */
  port?: number;
  /** Connect over TLS: `true` for system CAs, or TLS options. */
  tls?: boolean | ClientTlsOptions;
  /** Local address to connect from (multi-homed machines). @default chosen by the OS */
  localAddress?: string;
  /** Time allowed for TCP/TLS connect plus the HELLO exchange, ms. @default 10000 */
  connectTimeout?: number;
  /** Time allowed for a control request (not transfers) to be answered, ms. @default 30000 */
  requestTimeout?: number;
  /** Default time a ping may take before it counts as lost, ms. @default 5000 */
  pingTimeout?: number;
  /** Largest frame accepted from the server, bytes. @default 2097152 */
  maxFrameSize?: number;
  /** Largest DATA frame body sent, bytes; at most `window`. @default 262144 */
  chunkSize?: number;
  /** Per-stream flow-control window granted to the server for downloads, bytes. @default 2097152 */
  window?: number;
  /** Minimum interval between progress callbacks and events of one transfer, ms. @default 100 */
  progressInterval?: number;
  /** @deprecated The old name of `progressInterval`. */
  progressIntervalMs?: number;
  /**
   * The stall rule of transfers, ms: a download whose data is due from the server must receive at
   * least `stallBytes` in every `stallTimeout`, else it fails with `ETIMEDOUT`; a transfer waiting
   * on the server otherwise (go-ahead, credit, final answer) this long pings it, and a ping not
   * answered within `pingTimeout` closes the connection with `ETIMEDOUT`. @default 60000
   */
  stallTimeout?: number;
  /** See `stallTimeout`. @default 16384 */
  stallBytes?: number;
}

/** @internal */
export type ResolvedClientOptions = Required<Omit<FileShareClientOptions, 'tls' | 'localAddress' | 'progressIntervalMs'>> & {
  tls: ClientTlsOptions | undefined;
  localAddress: string | undefined;
};

/** @internal */
export function resolveClientOptions(options: FileShareClientOptions = {}): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) throw optionError('FileShareClient options must be an object');
  const port = options.port ?? 4450;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw optionError(`options.port must be 1-65535, got ${JSON.stringify(port)}`);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0)
    throw optionError(`options.host must be a non-empty string, got ${JSON.stringify(host)}`);
  const resolved: ResolvedClientOptions = {
    host,
    port,
    localAddress: options.localAddress,
    tls: options.tls === true ? {} : options.tls === false || options.tls === undefined ? undefined : options.tls,
    connectTimeout: positiveInteger('connectTimeout', options.connectTimeout, 10_000),
    requestTimeout: positiveInteger('requestTimeout', options.requestTimeout, 30_000),
    pingTimeout: positiveInteger('pingTimeout', options.pingTimeout, 5_000),
    ...resolveTransferOptions(options),
  };
  return resolved;
}
