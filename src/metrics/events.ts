import { EventEmitter } from 'eventemitter3';

/** A ping answered. */
export interface PingEvent {
  /** Sequence number of the ping on this connection. */
  readonly seq: number;
  /** Round-trip time in milliseconds (sub-millisecond precision). */
  readonly rttMs: number;
  /** When the answer arrived, ms since the epoch. */
  readonly timestamp: number;
}

/** A ping that got no answer within its timeout. */
export interface PingLostEvent {
  /** Sequence number of the ping on this connection. */
  readonly seq: number;
  /** How long the ping waited for its answer before it was given up, ms. */
  readonly timeoutMs: number;
  /** When it was given up, ms since the epoch. */
  readonly timestamp: number;
}

/** A UDP probe answered within its timeout. */
export interface ProbeEvent {
  /** Sequence number of the probe in this session. */
  readonly seq: number;
  /** 1-based number of the probe in its run (its `client.probe()` or `client.measure()` call). */
  readonly index: number;
  /** Round-trip time in milliseconds (sub-millisecond precision). */
  readonly rttMs: number;
  /** Size of the answer datagram (the same as the probe's), bytes. */
  readonly bytes: number;
  /** When the answer arrived, ms since the epoch. */
  readonly timestamp: number;
}

/** A UDP probe without an answer within its timeout: lost on the way there or back. */
export interface ProbeLostEvent {
  /** Sequence number of the probe in this session. */
  readonly seq: number;
  /** 1-based number of the probe in its run (its `client.probe()` or `client.measure()` call). */
  readonly index: number;
  /** How long the probe waited for its answer, ms. */
  readonly timeoutMs: number;
  /** When it was given up, ms since the epoch. */
  readonly timestamp: number;
}

/** Direction of a transfer, seen from the client. */
export type TransferDirection = 'upload' | 'download';

/** Progress of a running transfer (emitted at most every `progressInterval`, and at the end). */
export interface TransferProgress {
  /** Request id of the transfer on its connection. */
  readonly id: number;
  /** Upload or download, seen from the client (also on the server side). */
  readonly direction: TransferDirection;
  /** Remote path. */
  readonly path: string;
  /** Bytes moved so far. */
  readonly bytes: number;
  /** Total bytes expected, when known. */
  readonly totalBytes: number | undefined;
  /** Milliseconds since the transfer started. */
  readonly elapsedMs: number;
  /** Average rate so far in MB/s (1 MB = 10^6 bytes). */
  readonly mbps: number;
  /** The user, on the server side. */
  readonly username?: string;
}

/** A transfer that completed and was verified. */
export interface TransferComplete {
  /** Request id of the transfer on its connection. */
  readonly id: number;
  /** Upload or download, seen from the client (also on the server side). */
  readonly direction: TransferDirection;
  /** Remote path. */
  readonly path: string;
  /** Size of the whole file in bytes, including any part kept from an earlier attempt of a resumed transfer. */
  readonly bytes: number;
  /** Duration in milliseconds. */
  readonly ms: number;
  /** Average rate in MB/s (1 MB = 10^6 bytes). */
  readonly mbps: number;
  /** SHA-256 of the whole file, hex. */
  readonly sha256: string;
  /** The user, on the server side. */
  readonly username?: string;
}

/** Events of `client.metrics`. */
export interface ClientMetricsEvents {
  /** A ping was answered. */
  ping: [PingEvent];
  /** A ping timed out without an answer. */
  pingLost: [PingLostEvent];
  /** A UDP probe was answered (`client.probe()`, `client.measure()`). */
  probe: [ProbeEvent];
  /** A UDP probe got no answer within its timeout. */
  probeLost: [ProbeLostEvent];
  /** A transfer of this client made progress. */
  progress: [TransferProgress];
  /** A transfer of this client completed and was verified. */
  transfer: [TransferComplete];
}

/** Events of `server.metrics`. */
export interface ServerMetricsEvents {
  /** A transfer on any connection made progress (`username` is set). */
  progress: [TransferProgress];
  /** A transfer on any connection completed and was verified (`username` is set). */
  transfer: [TransferComplete];
}

/**
 * An emitter whose listeners cannot break the code that emits: metrics are emitted from inside
 * transfers (write callbacks, the send scheduler, the end of a verified upload), where an exception
 * from a listener would fail the transfer or crash the process. A listener that throws is reported
 * to `onListenerError` (the server routes it to its `error` event) and otherwise ignored.
 */
class SafeEmitter<Events extends EventEmitter.ValidEventTypes> extends EventEmitter<Events> {
  /** @internal Where listener exceptions go; ignored when unset. */
  onListenerError: ((err: Error) => void) | undefined;

  override emit<K extends EventEmitter.EventNames<Events>>(event: K, ...args: EventEmitter.EventArgs<Events, K>): boolean {
    try {
      return super.emit(event, ...args);
    } catch (err) {
      try {
        this.onListenerError?.(err instanceof Error ? err : new Error(String(err)));
      } catch {
        /* nothing more to do */
      }
      return true;
    }
  }
}

/** The emitter behind `client.metrics`: subscribe with `client.metrics.on('ping', e => ...)`. A throwing listener is ignored. */
export class ClientMetrics extends SafeEmitter<ClientMetricsEvents> {}

/** The emitter behind `server.metrics`. A throwing listener is reported as the server's `error` event. */
export class ServerMetrics extends SafeEmitter<ServerMetricsEvents> {}
