/**
 * A port range for FTP passive data connections. ftp-srv hands out passive ports from a fixed
 * range, so the harness picks one that is free now and lies below the kernel's ephemeral range
 * (where outgoing connections take their local ports), to avoid clashes with anything else.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { HOST } from './messages.ts';

function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 2048 ? n : 32768;
  } catch {
    return 32768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/**
 * `width` consecutive ports starting at a random offset in [10000, ephemeral start), whose first,
 * middle and last ports are free right now (ftp-srv skips busy ports itself, up to 5 in a row).
 */
export async function pickPassiveRange(width: number): Promise<[number, number]> {
  const top = ephemeralStart() - width;
  const bottom = 10_000;
  if (top <= bottom) throw new Error(`no room for ${width} passive ports below ${ephemeralStart()}`);
  for (let attempt = 0; attempt < 20; attempt++) {
    const start = bottom + Math.floor(Math.random() * (top - bottom));
    const end = start + width - 1;
    const probes = [start, Math.floor((start + end) / 2), end];
    if ((await Promise.all(probes.map(canListen))).every(Boolean)) return [start, end];
  }
  throw new Error('could not find a free passive port range');
}
