/** The live line in the terminal: rewritten in place on a TTY, one line per second otherwise. */
import pc from 'picocolors';
import type { LiveStats } from './stats.ts';

export class LiveLine {
  private lastWrite = 0;
  private shown = false;

  /** @param planned - pings planned (0 = unbounded) */
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly planned: number,
  ) {}

  update(s: LiveStats): void {
    const now = Date.now();
    const tty = this.out.isTTY === true;
    const last = this.planned > 0 && s.count >= this.planned;
    if (now - this.lastWrite < (tty ? 100 : 1000) && !(tty && last)) return;
    this.lastWrite = now;
    if (tty) {
      this.out.write(`\r${this.format(s)}\x1b[K`);
      this.shown = true;
    } else {
      this.out.write(`${this.format(s)}\n`);
    }
  }

  /** Clear the line before another message is printed (it comes back with the next update). */
  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }

  /** Keep the last line and move below it. */
  end(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }

  private format(s: LiveStats): string {
    const ms = (x: number | null) => (x === null ? '–' : `${x.toFixed(2)} ms`);
    const count = this.planned > 0 ? `${s.count}/${this.planned}` : String(s.count);
    const loss = `${s.lossPercent.toFixed(1)} % (${s.lost})`;
    const parts = [
      `${pc.dim('ping')} ${count}`,
      `${pc.dim('last')} ${s.count > 0 && s.lastMs === null ? pc.red('lost') : ms(s.lastMs)}`,
      `${pc.dim('avg')} ${ms(s.avgMs)}`,
      `${pc.dim('p95')} ${ms(s.p95Ms)}`,
      `${pc.dim('loss')} ${s.lost > 0 ? pc.red(loss) : loss}`,
    ];
    if (s.udp) {
      const udpLoss = `${s.udp.lossPercent.toFixed(1)} % (${s.udp.lost})`;
      parts.push(`${pc.dim('udp')} ${ms(s.udp.lastMs)}`, `${pc.dim('udp loss')} ${s.udp.lost > 0 ? pc.red(udpLoss) : udpLoss}`);
    }
    if (s.mbps !== null) parts.push(`${pc.dim('load')} ${s.mbps.toFixed(1)} MB/s`);
    return parts.join('  ');
  }
}
