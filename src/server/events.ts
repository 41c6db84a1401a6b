import type { Permission } from '../auth/types.ts';
import type { FileShareError } from '../errors.ts';

/** Identifies one client connection in server events. */
export interface ConnectionInfo {
  /** Connection number, unique for the server's lifetime. */
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Whether the connection uses TLS. */
  readonly secure: boolean;
}

/** A successful login. */
export interface LoginEvent {
  readonly connection: ConnectionInfo;
  readonly username: string;
  readonly permissions: readonly Permission[];
}

/** A failed login attempt. */
export interface LoginFailedEvent {
  readonly connection: ConnectionInfo;
  /** The name that was tried (may not exist). */
  readonly username: string;
  /** `EAUTH` for bad credentials, `ETHROTTLED` while throttled, `EIO` when the provider failed. */
  readonly code: 'EAUTH' | 'ETHROTTLED' | 'EIO';
}

/** A completed, verified upload or download. */
export interface TransferEvent {
  readonly connection: ConnectionInfo;
  readonly username: string;
  /** Remote path, as the user sees it. */
  readonly path: string;
  readonly bytes: number;
  readonly ms: number;
  /** MB/s, 1 MB = 10^6 bytes. */
  readonly mbps: number;
  readonly sha256: string;
}

/** A change to the file tree other than an upload: delete, mkdir, rmdir, rename. */
export interface FileChangeEvent {
  readonly connection: ConnectionInfo;
  readonly username: string;
  readonly path: string;
  /** For rename: the new path. */
  readonly to?: string;
}

/** A connection ended. */
export interface DisconnectEvent {
  readonly connection: ConnectionInfo;
  /** Set when the user had logged in. */
  readonly username: string | undefined;
  /** Why it ended, when it was an error (timeout, protocol error, lost connection). */
  readonly error: FileShareError | undefined;
}

/** A request that failed (any code), for logging. */
export interface RequestFailedEvent {
  readonly connection: ConnectionInfo;
  readonly username: string | undefined;
  readonly op: string;
  readonly error: FileShareError;
}

/** Typed events of {@link FileShareServer}. Listener exceptions are caught and reported as `error`. */
export interface ServerEvents {
  listening: [{ address: string; port: number }];
  connection: [ConnectionInfo];
  login: [LoginEvent];
  loginFailed: [LoginFailedEvent];
  upload: [TransferEvent];
  download: [TransferEvent];
  delete: [FileChangeEvent];
  mkdir: [FileChangeEvent];
  rmdir: [FileChangeEvent];
  rename: [FileChangeEvent];
  requestFailed: [RequestFailedEvent];
  disconnect: [DisconnectEvent];
  /** Advice for the operator, such as listening on a LAN address without TLS. */
  warning: [string];
  /** An unexpected failure (a bug, a provider that threw); the server keeps running. */
  error: [Error];
  close: [];
}
