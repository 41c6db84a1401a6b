import type { Permission } from '../auth/types.ts';
import type { FileShareError } from '../errors.ts';

/** Where the server listens: what {@link FileShareServer.listen} and {@link FileShareServer.address} return and `listening` carries. */
export interface ServerAddress {
  /** The bound IP address, as Node reports it (`127.0.0.1`, `::`, ...). */
  address: string;
  /** The bound TCP port: the one the system picked when the options asked for port 0. */
  port: number;
}

/** Identifies one client connection in server events. */
export interface ConnectionInfo {
  /** Connection number, unique for the server's lifetime. */
  readonly id: number;
  /** The client's IP address as the socket saw it (`unknown` if the socket had already closed). */
  readonly remoteAddress: string;
  /** The client's TCP port (0 if the socket had already closed). */
  readonly remotePort: number;
  /** Whether the connection uses TLS. */
  readonly secure: boolean;
}

/** A successful login. */
export interface LoginEvent {
  /** The connection that logged in. */
  readonly connection: ConnectionInfo;
  /** The user now logged in on it. */
  readonly username: string;
  /** What the user may do, as granted by the auth provider (the defaults when it granted none). */
  readonly permissions: readonly Permission[];
}

/** A failed login attempt. */
export interface LoginFailedEvent {
  /** The connection that tried. */
  readonly connection: ConnectionInfo;
  /** The name that was tried (may not exist). */
  readonly username: string;
  /**
   * `EAUTH` for bad credentials, `ETHROTTLED` while throttled, `EBUSY` when too many logins were
   * already waiting (`maxPendingLogins`, or the bcrypt threads' queue), `EIO` when the provider failed.
   */
  readonly code: 'EAUTH' | 'ETHROTTLED' | 'EBUSY' | 'EIO';
}

/** A completed, verified upload or download. */
export interface TransferEvent {
  /** The connection the transfer ran on. */
  readonly connection: ConnectionInfo;
  /** The logged-in user who transferred the file. */
  readonly username: string;
  /** Remote path, as the user sees it. */
  readonly path: string;
  /** Size of the whole file in bytes, including any part kept from an earlier attempt of a resumed transfer. */
  readonly bytes: number;
  /** Duration of this attempt in milliseconds. */
  readonly ms: number;
  /** MB/s, 1 MB = 10^6 bytes. */
  readonly mbps: number;
  /** SHA-256 of the whole file, lowercase hex, as verified by both sides. */
  readonly sha256: string;
}

/** A change to the file tree other than an upload or a rename: delete, mkdir, rmdir. */
export interface FileChangeEvent {
  /** The connection the change was requested on. */
  readonly connection: ConnectionInfo;
  /** The logged-in user who made the change. */
  readonly username: string;
  /** Remote path of the file or folder changed, as the user sees it. */
  readonly path: string;
}

/** A file or folder was renamed or moved. */
export interface RenameEvent extends FileChangeEvent {
  /** The old path (the same as `path`). */
  readonly from: string;
  /** The new path. */
  readonly to: string;
}

/** Advice for the operator. */
export interface WarningEvent {
  /**
   * Stable code: `FILESHARE_PLAINTEXT` (listening on a non-loopback address without TLS) or
   * `FILESHARE_TLS_MISMATCH` (a client spoke TLS to a plain port, or the reverse) or
   * `FILESHARE_UDP_PROBES` (the UDP probe port could not be bound: no packet-loss figures).
   */
  readonly code: 'FILESHARE_PLAINTEXT' | 'FILESHARE_TLS_MISMATCH' | 'FILESHARE_UDP_PROBES';
  /** The advice, for humans. */
  readonly message: string;
}

/** A connection ended. */
export interface DisconnectEvent {
  /** The connection that ended. */
  readonly connection: ConnectionInfo;
  /** Set when the user had logged in. */
  readonly username: string | undefined;
  /** Why it ended, when it was an error (timeout, protocol error, lost connection). */
  readonly error: FileShareError | undefined;
}

/** A request that failed (any code), for logging. */
export interface RequestFailedEvent {
  /** The connection the request came on. */
  readonly connection: ConnectionInfo;
  /** The logged-in user; undefined before login. */
  readonly username: string | undefined;
  /** The protocol operation requested (`upload`, `list`, `rename`, ...). */
  readonly op: string;
  /** The error sent back to the client. */
  readonly error: FileShareError;
}

/** Typed events of {@link FileShareServer}. Listener exceptions are caught and reported as `error`. */
export interface ServerEvents {
  /** The server is listening, on this address. */
  listening: [ServerAddress];
  /** A client connection was accepted (after its TLS handshake, before login); refused ones are not reported. */
  connection: [ConnectionInfo];
  /** A user logged in. */
  login: [LoginEvent];
  /** A login was refused. */
  loginFailed: [LoginFailedEvent];
  /** A file was uploaded, committed and verified. */
  upload: [TransferEvent];
  /** A file was downloaded and verified. */
  download: [TransferEvent];
  /** A file was deleted. */
  delete: [FileChangeEvent];
  /** A folder was created. */
  mkdir: [FileChangeEvent];
  /** A folder was removed. */
  rmdir: [FileChangeEvent];
  /** A file or folder was renamed or moved. */
  rename: [RenameEvent];
  /** A request failed; the client got the error. */
  requestFailed: [RequestFailedEvent];
  /** A client connection ended. */
  disconnect: [DisconnectEvent];
  /** Advice for the operator, such as listening on a LAN address without TLS. */
  warning: [WarningEvent];
  /** An unexpected failure (a bug, a provider that threw); the server keeps running. */
  error: [Error];
  /** `close()` finished: every connection is closed and the auth provider released. */
  close: [];
}
