/**
 * The bench harness as a bystander: while a workload's client and server worker processes run, the
 * harness itself only waits for them, so its own event-loop delay is what this machine gives an
 * otherwise idle Node process under that load. It is the floor under every loop-delay (and latency)
 * figure taken at the same time: no server's loop can be more punctual than an idle one's.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { EventLoopDelay } from '../messages.ts';

/** Start timing the harness's own event loop; `stop()` returns the percentiles since. */
export function watchHarnessLoop(): { stop(): EventLoopDelay } {
  // 1 ms resolution, as the server workers use, so that the figures compare
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let result: EventLoopDelay | undefined;
  return {
    stop() {
      if (result === undefined) {
        delay.disable();
        result = {
          p50Ms: delay.percentile(50) / 1e6,
          p99Ms: delay.percentile(99) / 1e6,
          maxMs: delay.max / 1e6,
          samples: delay.count,
        };
      }
      return result;
    },
  };
}
