import { quantile } from './summary.ts';

/** Round trips of the answered UDP probes, ms. */
export interface ProbeRtt {
  /** Shortest round trip. */
  readonly min: number;
  /** Mean round trip. */
  readonly avg: number;
  /** Median, linearly interpolated. */
  readonly p50: number;
  /** 95th percentile, linearly interpolated. */
  readonly p95: number;
  /** Longest round trip. */
  readonly max: number;
}

/** UDP probe figures: what the network did to datagrams that nothing retransmits. */
export interface UdpAvailable {
  /** The server answered at least one probe. */
  readonly available: true;
  /** Probes sent. */
  readonly sent: number;
  /** Probes answered within the timeout. */
  readonly received: number;
  /** Probes without an answer within the timeout (including the late ones). */
  readonly lost: number;
  /** `lost` as a percentage of `sent`: the packet loss of the path, both directions together. */
  readonly lossPercent: number;
  /** Probes whose answer came, but after the timeout (counted as lost too, as ping(8) does). */
  readonly late: number;
  /** Extra answers: probes answered more than once (the network duplicated a datagram on the way back). */
  readonly duplicated: number;
  /** Answers that arrived after the answer to a later probe. */
  readonly reordered: number;
  /** Round trips of the probes answered in time, ms. */
  readonly rtt: ProbeRtt;
  /** RFC 3550 interarrival jitter of the round trips, ms: J += (|D| - J) / 16, in order of arrival. */
  readonly jitterMs: number;
  /** Size of each probe datagram (the UDP payload), bytes. */
  readonly sizeBytes: number;
  /** Every probe's round trip, in order of sending; `null` for a lost one. */
  readonly samples: ReadonlyArray<number | null>;
}

/** UDP probes could not be measured; the reason says why (not offered, blocked, closed). */
export interface UdpUnavailable {
  /** No probe figures. */
  readonly available: false;
  /** Why, for a human: the server does not offer probes, no probe was answered (UDP blocked?), ... */
  readonly reason: string;
  /** Probes sent before giving up (0 when the server offers none). */
  readonly sent: number;
}

/** The result of `client.probe()`, and `udp` of `client.measure()`. */
export type UdpSummary = UdpAvailable | UdpUnavailable;

/** What the prober recorded of one probe. @internal */
export interface ProbeRecord {
  /** Round trip of the first answer within the timeout; null when there was none. */
  rttMs: number | null;
  /** An answer came after the timeout. */
  late: boolean;
  /** Answers after the first. */
  duplicates: number;
  /** The first answer came after the answer to a later probe. */
  reordered: boolean;
}

/**
 * Summarize probe records (index = seq - 1). `arrivals` are the in-time round trips in order of
 * arrival, for the RFC 3550 jitter. With no answer at all the result is unavailable: 100 % loss on
 * a connection whose TCP side works means UDP does not get through, not that the path drops all.
 * @internal
 */
export function summarizeProbes(records: readonly ProbeRecord[], arrivals: readonly number[], sizeBytes: number, port: number): UdpSummary {
  const ok = records.map((r) => r.rttMs).filter((x): x is number => x !== null);
  if (records.length > 0 && ok.length === 0) {
    return {
      available: false,
      sent: records.length,
      reason: `none of ${records.length} UDP probes was answered: UDP port ${port} is blocked (firewall, NAT) or the path drops everything`,
    };
  }
  if (records.length === 0) return { available: false, sent: 0, reason: 'no probe was sent' };
  const sorted = [...ok].sort((a, b) => a - b);
  let jitter = 0;
  for (let i = 1; i < arrivals.length; i++) jitter += (Math.abs(arrivals[i]! - arrivals[i - 1]!) - jitter) / 16;
  const lost = records.length - ok.length;
  return {
    available: true,
    sent: records.length,
    received: ok.length,
    lost,
    lossPercent: (lost / records.length) * 100,
    late: records.filter((r) => r.late).length,
    duplicated: records.reduce((n, r) => n + r.duplicates, 0),
    reordered: records.filter((r) => r.reordered).length,
    rtt: {
      min: sorted[0]!,
      avg: ok.reduce((a, b) => a + b, 0) / ok.length,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      max: sorted[sorted.length - 1]!,
    },
    jitterMs: jitter,
    sizeBytes,
    samples: records.map((r) => r.rttMs),
  };
}
