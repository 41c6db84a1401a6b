/**
 * The UDP probes of a run, beside the TCP pings: one `client.probe()` run on the pings' schedule
 * (started again after a reconnection), whose per-probe events are paired with the pings by their
 * number in the run. TCP resends what the network drops, so the pings show loss only as latency;
 * the probes show it as loss.
 */
import type { FileShareClient, ProbeEvent, ProbeLostEvent, UdpSummary } from 'fileshare';

/** What is known of probe `i` (the one sent with ping `i`): its round trip, `null` if lost, `undefined` while pending. */
export type ProbeResult = number | null | undefined;

export class UdpTrack {
  /** By ping index (0-based). */
  private readonly results: ProbeResult[] = [];
  /** Ping indices of the probe run going on, [from, to): their probes are worth waiting for. */
  private active: { from: number; to: number } | undefined;
  private running: Promise<void> | undefined;
  /** The results of every finished probe run. */
  readonly runs: UdpSummary[] = [];
  /** Why there are no probes (the server offers none), once known. */
  unavailable: string | undefined;

  /** @param onSettled - a probe was answered or lost, or a run ended: points may be ready */
  constructor(
    private readonly opts: { intervalMs: number; timeoutMs: number; signal: AbortSignal },
    private readonly onSettled: () => void,
  ) {}

  /**
   * Probe `count` times (0: until the signal) on `client`, the first probe paired with ping
   * `fromIndex`. A run still going on (on a connection that dropped) ends by itself.
   */
  start(client: FileShareClient, fromIndex: number, count: number): void {
    if (!client.udpProbesOffered) {
      this.unavailable = 'the server does not offer UDP probes (its udpProbes option is off)';
      return;
    }
    this.unavailable = undefined;
    const range = { from: fromIndex, to: count > 0 ? fromIndex + count : Infinity };
    this.active = range;
    const onProbe = (e: ProbeEvent) => this.settle(fromIndex + e.index - 1, e.rttMs);
    const onLost = (e: ProbeLostEvent) => this.settle(fromIndex + e.index - 1, null);
    client.metrics.on('probe', onProbe).on('probeLost', onLost);
    const run = client
      .probe({
        count: count > 0 ? count : 2 ** 31,
        interval: this.opts.intervalMs,
        timeout: this.opts.timeoutMs,
        signal: this.opts.signal,
      })
      .then(
        (summary) => {
          this.runs.push(summary);
        },
        () => undefined, // the connection dropped: the session reconnects and starts a new run
      )
      .finally(() => {
        client.metrics.off('probe', onProbe).off('probeLost', onLost);
        // probes that never settled (the run was stopped, the connection dropped) are not waited for
        if (this.active === range) this.active = undefined;
        this.onSettled();
      });
    this.running = run;
  }

  /** Whether ping `i`'s point has to wait for its probe. */
  pending(i: number): boolean {
    return this.results[i] === undefined && this.active !== undefined && i >= this.active.from && i < this.active.to;
  }

  /** Probe `i`'s round trip (ms), `null` when lost, `undefined` when there was no probe. */
  result(i: number): ProbeResult {
    return this.results[i];
  }

  /** Resolves when the current run has ended. */
  async finished(): Promise<void> {
    await this.running;
  }

  private settle(i: number, value: number | null): void {
    if (this.results[i] !== undefined) return;
    this.results[i] = value;
    this.onSettled();
  }
}
