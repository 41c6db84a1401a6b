/**
 * The vocabulary of the wire: the request, partial and response body of every operation
 * (docs/protocol.md §3, one interface per operation), and the bodies of the control frames. Client
 * and server both build on these types, so a new operation is added here first, and the server's
 * dispatch table must then name a handler for it.
 * @module
 */

/**
 * What a user may do. `read`: list, stat, download. `write`: upload (and overwrite when asked),
 * mkdir, rename. `delete`: delete files, remove folders.
 */
export type Permission = 'read' | 'write' | 'delete';

/** One entry of a folder listing, or the result of `stat`. */
export interface Entry {
  /** Base name (no slashes); `""` for the root. */
  readonly name: string;
  /** `file` or `directory`. Other kinds (sockets, devices) are never listed. */
  readonly type: 'file' | 'directory';
  /** Size in bytes (0 for folders). */
  readonly size: number;
  /** Last modification time, milliseconds since the epoch. */
  readonly mtime: number;
}

/** The body of a response that carries nothing: `{}`. @internal */
export type EmptyBody = Record<string, never>;

/** What a logged-in client needs to send UDP probes (docs/protocol.md §8). @internal */
export interface UdpProbeGrant {
  /** UDP port of the responder: the TCP listener's port number. */
  readonly port: number;
  /** Hex key id, the first field of every probe. */
  readonly keyId: string;
  /** Base64 HMAC-SHA-256 key of this session. */
  readonly key: string;
  /** Largest probe datagram answered, bytes. */
  readonly maxSize: number;
  /** Probes per second answered for this session. */
  readonly maxPerSecond: number;
}

/** `login`: check credentials; one attempt at a time per connection. @internal */
export interface LoginOperation {
  request: { username: string; password: string };
  partial: never;
  /**
   * `udpProbe` only when the server answers UDP probes; `resumeToken` (and its expiry, ms since
   * the epoch) only when it issues session-resumption tokens.
   */
  response: LoginResponse;
}

/** What `login` and `resume` answer. @internal */
export interface LoginResponse {
  username: string;
  permissions: readonly Permission[];
  udpProbe?: UdpProbeGrant;
  resumeToken?: string;
  resumeExpiresAt?: number;
}

/** `resume`: log in with a session-resumption token from an earlier login (no password). @internal */
export interface ResumeOperation {
  request: { token: string };
  partial: never;
  response: LoginResponse;
}

/** `logout`: acknowledged, then the server closes the connection. @internal */
export interface LogoutOperation {
  request: EmptyBody;
  partial: never;
  response: EmptyBody;
}

/**
 * `list`: the entries of a folder, in PARTIAL batches, then their count. With `sorted: false` the
 * server may send them in its storage's order as the storage pages them, without collecting the
 * folder first. @internal
 */
export interface ListOperation {
  request: { path: string; sorted?: boolean };
  partial: { entries: Entry[] };
  response: { count: number };
}

/** `stat`: one entry; with `sha256`, a file's entry carries the SHA-256 of its content. @internal */
export interface StatOperation {
  request: { path: string; sha256?: boolean };
  partial: never;
  response: Entry & { sha256?: string };
}

/** `mkdir`: create a folder; `recursive` creates parents and tolerates an existing folder. @internal */
export interface MkdirOperation {
  request: { path: string; recursive?: boolean };
  partial: never;
  response: EmptyBody;
}

/** `rmdir`: remove a folder; `recursive` removes its contents too. @internal */
export interface RmdirOperation {
  request: { path: string; recursive?: boolean };
  partial: never;
  response: EmptyBody;
}

/** `delete`: remove a file (never a folder). @internal */
export interface DeleteOperation {
  request: { path: string };
  partial: never;
  response: EmptyBody;
}

/** `rename`: rename or move; never overwrites. @internal */
export interface RenameOperation {
  request: { from: string; to: string };
  partial: never;
  response: EmptyBody;
}

/** The go-ahead of an upload: send DATA from `offset` (and, resuming, the kept bytes' hash). @internal */
export interface UploadGoAhead {
  offset: number;
  /** Present when `offset > 0`: SHA-256 of the bytes the server kept. */
  prefixSha256?: string;
}

/** A verified transfer: the whole file's size and SHA-256. @internal */
export interface TransferDone {
  bytes: number;
  sha256: string;
}

/** `upload`: DATA after the go-ahead, then END; resumable with `resume`. @internal */
export interface UploadOperation {
  request: {
    path: string;
    size?: number;
    overwrite?: boolean;
    resume?: { key: string; restart?: boolean };
    /** The modification time the stored file gets, ms since the epoch. */
    mtime?: number;
  };
  partial: UploadGoAhead;
  response: TransferDone;
}

/** One file of an `upload-batch`: its bytes are the next `size` bytes of the batch's data. @internal */
export interface BatchFile {
  path: string;
  size: number;
  /** SHA-256 of this file's bytes: the server stores the file only if they hash to it. */
  sha256: string;
  /** The modification time the stored file gets, ms since the epoch. */
  mtime?: number;
}

/** What one file of a batch came to: stored (its size and SHA-256), or why not. @internal */
export type BatchFileResult = TransferDone | { error: ErrorBody };

/**
 * `upload-batch`: several small new files in one request, their bytes one after another in its
 * DATA, then one END for all of them. Each file is stored (atomically, verified by its own
 * SHA-256) or refused on its own; the answer lists the outcomes in the request's order. @internal
 */
export interface UploadBatchOperation {
  request: { files: BatchFile[]; overwrite?: boolean };
  partial: UploadGoAhead;
  response: { results: BatchFileResult[] };
}

/** `download`: the file's facts, then DATA within credit; resumable with `offset` + `prefixSha256`. @internal */
export interface DownloadOperation {
  request: { path: string; offset?: number; prefixSha256?: string };
  partial: { size: number; mtime: number; offset: number };
  response: TransferDone;
}

/** `discard`: an upload the server hashes and drops (throughput measurement). @internal */
export interface DiscardOperation {
  request: { size?: number };
  partial: UploadGoAhead;
  response: TransferDone;
}

/** Every operation by its wire name. @internal */
export interface Operations {
  login: LoginOperation;
  resume: ResumeOperation;
  logout: LogoutOperation;
  list: ListOperation;
  stat: StatOperation;
  mkdir: MkdirOperation;
  rmdir: RmdirOperation;
  delete: DeleteOperation;
  rename: RenameOperation;
  upload: UploadOperation;
  'upload-batch': UploadBatchOperation;
  download: DownloadOperation;
  discard: DiscardOperation;
}

/** The name of an operation (the REQUEST's `op`). @internal */
export type OperationName = keyof Operations;
/** The arguments of `Op` (the REQUEST body without `op`). @internal */
export type RequestOf<Op extends OperationName> = Operations[Op]['request'];
/** A PARTIAL body of `Op`. @internal */
export type PartialOf<Op extends OperationName> = Operations[Op]['partial'];
/** The final RESPONSE body of `Op`. @internal */
export type ResponseOf<Op extends OperationName> = Operations[Op]['response'];

/** END: the sender's count and hash of the whole file. @internal */
export type EndBody = TransferDone;

/** ERROR, final for a request (or, on stream 0, for the connection). @internal */
export interface ErrorBody {
  code: string;
  message: string;
}

/** GOAWAY: the server is shutting down; requests in flight may finish, new ones fail. @internal */
export interface GoAwayBody {
  reason: string;
}
