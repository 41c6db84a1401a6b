/**
 * What a handler works with: one object per request in flight, so that handlers (one per
 * operation, in handlers/) depend on this file alone and never on the session or the server.
 * @internal
 * @module
 */
import type { Hash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { AuthenticatedUser, Permission } from '../auth/types.ts';
import type { FileShareError } from '../errors.ts';
import type { ServerMetrics } from '../metrics/events.ts';
import type { JsonObject } from '../protocol/fields.ts';
import type { IncrementalHash, Storage } from '../storage/types.ts';
import type { ConnectionInfo, ServerEvents } from './events.ts';
import type { ResolvedServerOptions } from './options.ts';
import type { ProbeGrant } from './probe-responder.ts';
import type { QuotaReservation } from './quota-ledger.ts';
import type { HeldResumeLock } from './resume-lock.ts';

/** Emits a server event; a listener's exception never reaches the caller. @internal */
export type ServerEventSink = <K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]) => void;

/** Totals of a finished stream. @internal */
export interface StreamTotals {
  readonly bytes: number;
  readonly sha256: string;
}

/** Options of {@link RequestContext.receive}. @internal */
export interface ReceiveOptions {
  /** Bytes a resumed upload already has: the go-ahead announces them and END counts them. */
  readonly offset?: number;
  /** SHA-256 of those `offset` bytes, sent with the go-ahead so the client can check them. */
  readonly prefixSha256?: string;
  /** Most bytes accepted in this request. */
  readonly maxBytes?: number;
  /** The error code when `maxBytes` is exceeded. */
  readonly maxBytesCode?: 'ETOOLARGE' | 'EQUOTA';
  /**
   * Asked with the running total before each body is written; false fails with EQUOTA, a promise
   * holds the data (the sender gets no more credit) until it settles (see IncomingStream).
   */
  readonly accept?: (received: number) => boolean | Promise<boolean>;
  /** Hash state to continue (a resumed upload's kept bytes). */
  readonly seedHash?: IncrementalHash;
  /** Called with the size of each chunk written. */
  readonly onChunk?: (n: number) => void;
}

/** Options of {@link RequestContext.send}. @internal */
export interface SendOptions {
  /** Hash state to continue (a resumed download's confirmed prefix). */
  readonly seedHash?: Hash;
  /** Called with the size of each chunk sent. */
  readonly onChunk?: (n: number) => void;
  /**
   * A PARTIAL to send just before the first DATA (or the end of an empty source), so that both
   * leave in one write: a download's `{ size, mtime, offset }`.
   */
  readonly partial?: object;
}

/** What a successful login answers. @internal */
export interface LoginAnswer {
  readonly username: string;
  readonly permissions: readonly Permission[];
  /** The session's UDP probe key and port, when the server answers probes (docs/protocol.md §8). */
  readonly udpProbe?: ProbeGrant;
  /** A session-resumption token, when the server issues them. */
  readonly resumeToken?: string;
  /** When `resumeToken` expires, ms since the epoch. */
  readonly resumeExpiresAt?: number;
}

/**
 * One request in flight, as its handler sees it: arguments, the user and their scoped storage,
 * the server's limits, events and metrics, the user's quota account, and the data streams of
 * uploads and downloads.
 *
 * Its `signal` aborts when the client cancels or the connection drops; whatever the handler
 * awaits on a stream then rejects, so the handler's own `finally`/`catch` cleans up (an upload
 * removes its temporary file).
 * @internal
 */
export interface RequestContext {
  /** The request's stream id. */
  readonly id: number;
  /** The protocol operation. */
  readonly op: string;
  /** The request's arguments (the REQUEST body). */
  readonly args: JsonObject;
  /** Aborted when the client cancels the request or the connection is lost. */
  readonly signal: AbortSignal;
  /** The connection the request came on. */
  readonly connection: ConnectionInfo;
  /** The logged-in user. @throws ENOTAUTH before login */
  readonly user: AuthenticatedUser;
  /** The user's storage, scoped to their home. @throws ENOTAUTH before login */
  readonly storage: Storage;
  /** The server's resolved options (limits, chunk size, progress interval). */
  readonly limits: ResolvedServerOptions;
  /** Announce a server event. */
  readonly emit: ServerEventSink;
  /** The server's transfer metrics. */
  readonly metrics: ServerMetrics;
  /** Largest PARTIAL body the client accepts (its frame limit and the JSON body limit). */
  readonly maxPartialBody: number;
  /** A normalised remote path from argument `key`. @throws EINVAL, EACCES */
  path(key?: string): string;
  /** Whether argument `key` was written with a trailing `/`: it then names a folder (see handlers/folder-syntax.ts). */
  namesFolder(key?: string): boolean;
  /** @throws EACCES unless the user has `permission`. */
  require(permission: Permission): void;
  /**
   * Send a non-final part of the response. The returned promise resolves once the connection can
   * take more (never rejects): a handler sending many parts awaits it between them.
   */
  partial(value: object): Promise<void>;
  /**
   * Receive an upload's data into `sink`: announce the go-ahead at `offset`, then take DATA frames
   * (hashing them) until END, and check the sender's byte count and SHA-256. Resolves once the
   * sink has flushed everything. @throws EINTEGRITY, ETOOLARGE, EQUOTA, EABORTED, ECLOSED
   */
  receive(sink: Writable, options?: ReceiveOptions): Promise<StreamTotals>;
  /**
   * Send `source` as DATA frames within the client's credit. Resolves when every byte has been
   * handed to the connection; the handler then returns the final response.
   */
  send(source: Readable, options?: SendOptions): Promise<StreamTotals>;
  /** Stop this request with `reason`, and resolve once its handler has finished. */
  abort(reason: FileShareError): Promise<void>;
  /**
   * Join the user's shared quota account; undefined when the user has no quota (or the storage
   * cannot measure usage). Call `release` on the reservation in every case.
   */
  joinQuota(): Promise<QuotaReservation | undefined>;
  /**
   * Lock the resumable upload `key` (as given to the storage) for this attempt through the locks
   * shared by all nodes; `takeover` stops this attempt when a newer one arrives on this server.
   * Undefined when the server has no shared resume locks: the storage then locks on its own.
   * @throws EBUSY (running on another node), EIO (the store failed)
   */
  lockResume(key: string, takeover: () => Promise<void>): Promise<HeldResumeLock>;
  /** Log in on this connection (one attempt at a time). @throws EAUTH, ETHROTTLED, EBUSY, EINVAL */
  login(username: string, password: string): Promise<LoginAnswer>;
  /** Log in on this connection with a resumption token (one attempt at a time). @throws EAUTH, ETHROTTLED, EBUSY, EINVAL */
  resume(token: string): Promise<LoginAnswer>;
  /** Close the connection cleanly once the final response has been written. */
  closeAfterResponse(): void;
}
