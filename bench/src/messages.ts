/**
 * What the harness and its worker processes say to each other.
 *
 * A worker gets one {@link WorkerConfig} as JSON in `argv[2]` and answers with lines on stdout that
 * start with {@link MESSAGE_PREFIX} followed by one JSON {@link WorkerMessage}; any other stdout
 * line (a library's logging) is ignored. A server worker announces `ready`, serves until its stdin
 * ends, then reports `result`. A client worker runs its tasks in order and reports `result`.
 * Everything here is types and constants: no I/O, so both sides can import it.
 */

/** Marks a protocol line on a worker's stdout. */
export const MESSAGE_PREFIX = '@@bench ';

/** The host everything runs on. The suite never leaves loopback. */
export const HOST = '127.0.0.1';

/** PEM files for TLS, by path. */
export interface TlsServerFiles {
  readonly cert: string;
  readonly key: string;
}

/** Configuration of a server worker. */
export interface ServerConfig {
  /** Folder the server serves from (empty at start; the harness may add files after `ready`). */
  readonly root: string;
  readonly user: string;
  readonly password: string;
  /** Present when the system runs over TLS. */
  readonly tls?: TlsServerFiles;
  /**
   * The most connections the workloads open at once (concurrency clients, plus margin). A server
   * with per-address connection limits raises them to this: every client comes from 127.0.0.1.
   */
  readonly maxClients: number;
  /** Session-resumption key (hex) for systems that issue tokens: the same across a restart. */
  readonly resumeKey?: string;
  /** Passive data port range for FTP, chosen by the harness outside the ephemeral range. */
  readonly pasvRange?: readonly [number, number];
  /** Serve from this S3 bucket instead of `root` (the s3 workload): fileshare over `S3Storage`, or the SDK alone. */
  readonly s3?: S3Target;
}

/** An S3-compatible API and a bucket of the s3 workload (FILESHARE_TEST_S3_* settings). */
export interface S3Target {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
}

/**
 * Untimed passes after a timed one, so that the passes after them run in warm processes: pass `k`
 * (1-based) goes to remote names and download folders suffixed `-w<k>`. A pass starts only while
 * the passes so far, plus one more of the last one's length, stay within `maxSeconds`: a system
 * slow enough to need no warm-up (FTP's passive polling) gets none.
 */
export interface WarmUp {
  readonly passes: number;
  readonly maxSeconds: number;
}

/** One thing a client worker does; see workers/tasks.ts for how each is run. */
export type ClientTask =
  | {
      /** Move one file once and time it (connection set-up excluded). */
      readonly kind: 'upload';
      readonly local: string;
      readonly remote: string;
    }
  | {
      readonly kind: 'download';
      readonly remote: string;
      readonly local: string;
    }
  | {
      /** Sequential round trips on an idle connection. */
      readonly kind: 'ping';
      readonly count: number;
    }
  | ({
      /**
       * Sequential round trips while transfers of `local` / `remote` run back to back (alternating
       * download and upload), on the same connection when the system allows it, otherwise on a
       * second connection. Only pings that start and end inside one transfer are kept.
       */
      readonly kind: 'pingUnderLoad';
      readonly count: number;
    } & TransferLoad)
  | ({
      /**
       * The transfers alone, reporting when each one ran: the load beside a {@link ClientTask}
       * `pingSeries` in another process.
       */
      readonly kind: 'transferLoop';
    } & TransferLoad)
  | {
      /**
       * Sequential pings from a client of its own, `maxPings` spread evenly over `maxSeconds`, each
       * with the time it ran. With `echoPort`, every ping is followed by one round trip to a bare echo socket
       * on that port (the bench harness's bystander), so both series see the same moments of load.
       */
      readonly kind: 'pingSeries';
      readonly maxPings: number;
      readonly maxSeconds: number;
      readonly echoPort?: number;
    }
  | {
      /** Upload then download `files`, one at a time (`parallel` 1) or with `parallel` in flight. */
      readonly kind: 'small';
      readonly files: readonly string[];
      readonly remotePrefix: string;
      readonly downloadDir: string;
      /**
       * 1 = one at a time; 0 = as many as the API allows: the driver's `maxInFlight` on one
       * connection, or `connections` connections when that is 1; n > 1 = at most n per connection.
       */
      readonly parallel: number;
      /** Connections to use when the API allows only one transfer per connection. */
      readonly connections: number;
      /** After the timed pass, untimed passes over the same files (see {@link WarmUp}). */
      readonly warmUp?: WarmUp;
    }
  | {
      /**
       * Upload the folder `local` to `remote` as a whole tree, download it to `downloadDir`, then
       * (where the system has one) sync the unchanged tree up again.
       */
      readonly kind: 'tree';
      readonly local: string;
      readonly remote: string;
      readonly downloadDir: string;
      /** After the timed pass (and before the sync), untimed passes of the same tree (see {@link WarmUp}). */
      readonly warmUp?: WarmUp;
    }
  | {
      /** `clients` clients log in with passwords (all at once) and save their resumption tokens to `file`. */
      readonly kind: 'saveTokens';
      readonly clients: number;
      readonly file: string;
    }
  | {
      /** Every token in `file` reconnects at once: connect and resume (no password). */
      readonly kind: 'resumeStorm';
      readonly file: string;
    }
  | {
      /** `clients` clients connect and log in, all at once; each closes once logged in. */
      readonly kind: 'logins';
      readonly clients: number;
    }
  | {
      /** `clients` clients connect, log in and upload `local` each, all at once. */
      readonly kind: 'concurrency';
      readonly clients: number;
      readonly local: string;
      readonly remotePrefix: string;
    };

/**
 * Big-file transfers back to back, alternating download (`remote` to `downloadLocal`) and upload
 * (`local` to `uploadRemote`), until `maxTransfers` or `maxSeconds`: the load of the ping series.
 */
export interface TransferLoad {
  readonly local: string;
  readonly remote: string;
  readonly uploadRemote: string;
  readonly downloadLocal: string;
  readonly maxTransfers: number;
  readonly maxSeconds: number;
}

/** Configuration of a client worker. */
export interface ClientConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** CA certificate (PEM path) to trust, when the system runs over TLS. */
  readonly tlsCa?: string;
  /** What the server worker said its clients need (a key file, a root folder), by name. */
  readonly hints?: Readonly<Record<string, string>>;
  /** The server worker's PID: a transfer reads the CPU time of its process tree (throughput's cost per MiB). */
  readonly serverPid?: number;
  readonly tasks: readonly ClientTask[];
}

export type WorkerConfig =
  { readonly role: 'server'; readonly server: ServerConfig } | { readonly role: 'client'; readonly client: ClientConfig };

/** Result of a timed transfer. */
export interface TransferResult {
  readonly kind: 'upload' | 'download';
  readonly seconds: number;
  readonly bytes: number;
  /** SHA-256 reported by the system itself, when it reports one. */
  readonly sha256?: string;
  /** CPU seconds (user + system, all threads and child processes) of the client over the timed part. */
  readonly clientCpuSeconds?: number;
  /** The same for the server worker's process tree (sshd and its per-connection session processes, which serve SFTP, for sftp). */
  readonly serverCpuSeconds?: number;
  /** Idle CPU seconds of the whole machine (all cores) over the timed part. */
  readonly idleCpuSeconds?: number;
}

/** Round-trip latency, microseconds. */
export interface PingResult {
  readonly kind: 'ping' | 'pingUnderLoad';
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly n: number;
  /** Whether the pings shared the transfer's connection (pingUnderLoad). */
  readonly sameConnection?: boolean;
  readonly transfers?: number;
  readonly transferBytes?: number;
}

/** When something ran: wall-clock milliseconds (`performance.timeOrigin + performance.now()`), comparable across processes. */
export type Span = readonly [startMs: number, endMs: number];

export interface TransferLoopResult {
  readonly kind: 'transferLoop';
  /** When each transfer ran. */
  readonly spans: readonly Span[];
  readonly transferBytes: number;
}

/**
 * Round trips, compactly (a series has thousands): the i-th began `origin + startsCs[i] / 100` ms
 * and took `micros[i]` µs.
 */
export interface RoundTrips {
  readonly origin: number;
  readonly startsCs: readonly number[];
  readonly micros: readonly number[];
}

export interface PingSeriesResult {
  readonly kind: 'pingSeries';
  readonly pings: RoundTrips;
  /** The bystander echoes (empty without `echoPort`). */
  readonly echoes: RoundTrips;
}

export interface SmallResult {
  readonly kind: 'small';
  readonly count: number;
  readonly uploadSeconds: number;
  readonly downloadSeconds: number;
  readonly inFlight: number;
  readonly connections: number;
  readonly errors: number;
  readonly firstError?: string;
}

export interface TreeResult {
  readonly kind: 'tree';
  readonly uploadSeconds: number;
  readonly downloadSeconds: number;
  /** CPU seconds of each side over the upload and over the download (threads, children, reaped children). */
  readonly cpu?: { readonly upload: { client: number; server: number }; readonly download: { client: number; server: number } };
  /** A second sync of the unchanged tree, for systems with a sync; undefined otherwise. */
  readonly syncSeconds?: number;
  /** Files the sync found to transfer (0 when it sees the tree as unchanged). */
  readonly syncTransferred?: number;
}

export interface ConcurrencyResult {
  readonly kind: 'concurrency';
  readonly clients: number;
  readonly seconds: number;
  readonly errors: number;
  readonly firstErrors: readonly string[];
  /** Median and slowest time one client took from connect to upload done, seconds. */
  readonly clientP50: number;
  readonly clientMax: number;
}

/** Event-loop delay percentiles, milliseconds. */
export interface EventLoopDelay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
}

export interface LoginsResult {
  readonly kind: 'logins' | 'saveTokens' | 'resumeStorm';
  readonly clients: number;
  /** From the first connect to the last login done. */
  readonly seconds: number;
  readonly errors: number;
  readonly firstErrors: readonly string[];
}

export type TaskResult =
  TransferResult | PingResult | TransferLoopResult | PingSeriesResult | SmallResult | ConcurrencyResult | TreeResult | LoginsResult;

export type WorkerMessage =
  | {
      readonly type: 'ready';
      readonly port: number;
      /** The folder on disk that the bench user sees as `/`. */
      readonly dataDir: string;
      readonly rssKiB: number;
      /** Passed on to this server's clients as `ClientConfig.hints`. */
      readonly hints?: Readonly<Record<string, string>>;
    }
  | {
      readonly type: 'result';
      readonly results: readonly TaskResult[];
      /** Peak RSS (VmHWM; `resourceUsage().maxRSS` where /proc is missing), KiB. */
      readonly maxRssKiB: number;
      /** A client's RSS when it started, before loading its system, KiB. */
      readonly startRssKiB?: number;
      /** A server's event-loop delay from ready to stop (`monitorEventLoopDelay`, 1 ms resolution). */
      readonly eventLoop?: EventLoopDelay;
    }
  | { readonly type: 'error'; readonly message: string; readonly stack?: string };
