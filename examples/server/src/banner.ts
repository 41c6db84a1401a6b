/**
 * What the server prints once it listens: where it serves from, how to reach it from other
 * devices, and whether the traffic is encrypted.
 */
import { PROTOCOL_VERSION, VERSION } from 'fileshare';
import { isLoopback, isWildcard, lanAddresses } from './addresses.ts';
import { formatBytes, hostPort } from './format.ts';
import { type Logger, paint } from './log.ts';

/** The facts the banner shows. */
export interface BannerInfo {
  root: string;
  usersFile: string;
  userCount: number;
  /** The host as configured and the port as bound (the real one with `--port 0`). */
  host: string;
  port: number;
  tls?: { fingerprint: string; validTo: Date };
  limits: { maxConnections: number; idleTimeoutS: number; maxFileSize?: number; fsync: boolean };
  /** The UDP port answering loss probes, once listening (undefined: off, or the port was taken). */
  udpProbePort?: number | undefined;
  /** Whether probes were asked for (not `--no-udp-probes`). */
  udpProbesWanted?: boolean;
}

/** Header lines, before `listening on`. */
export function printHeader(log: Logger, info: BannerInfo): void {
  const { limits } = info;
  log.say(paint.strong(`fileshare server ${VERSION} (protocol ${PROTOCOL_VERSION.join('.')})`));
  log.say(`  root    ${info.root}`);
  log.say(`  users   ${info.usersFile} (${info.userCount} ${info.userCount === 1 ? 'user' : 'users'})`);
  const size = limits.maxFileSize === undefined ? 'unlimited' : formatBytes(limits.maxFileSize);
  const fsync = limits.fsync ? 'on' : 'off';
  log.say(`  limits  ${limits.maxConnections} connections, idle timeout ${limits.idleTimeoutS} s, max file size ${size}, fsync ${fsync}`);
  if (info.udpProbesWanted !== undefined) {
    const probes =
      info.udpProbePort !== undefined
        ? `UDP ${info.udpProbePort}, for packet loss measurement (--no-udp-probes turns it off)`
        : info.udpProbesWanted
          ? 'off: the UDP port could not be bound'
          : 'off';
    log.say(`  probes  ${probes}`);
  }
  if (info.tls) {
    log.say(`  TLS     on; certificate valid until ${info.tls.validTo.toISOString().slice(0, 10)}`);
    log.say(`  SHA-256 fingerprint ${paint.strong(info.tls.fingerprint)}`);
    log.say('          (clients pin it with tls: { fingerprint256 }; compare it before trusting a connection)');
  } else {
    log.say('  TLS     off');
  }
  if (info.userCount === 0) log.say(paint.warn('  no users yet: add one with `npm start -- user add NAME`'));
}

/** The addresses clients can use, then the plaintext note when it applies. */
export function printAddresses(log: Logger, info: BannerInfo): void {
  const { host, port } = info;
  const line = (address: string, where: string) => log.say(`  ${hostPort(address, port).padEnd(34)} ${paint.quiet(where)}`);
  log.say('connect with:');
  if (!isWildcard(host)) {
    line(host, isLoopback(host) ? 'this machine only' : 'the address you chose');
  } else {
    // 0.0.0.0 accepts IPv4 only; `::` accepts both (dual stack).
    const ipv6 = host === '::';
    line('127.0.0.1', 'this machine');
    const lan = lanAddresses();
    for (const a of lan.filter((x) => ipv6 || x.family === 'IPv4')) line(a.address, `${a.iface} (${a.family})`);
    if (lan.length === 0) log.say(paint.warn('  no LAN address found: is the network up?'));
    if (!ipv6 && lan.some((a) => a.family === 'IPv6')) {
      log.say(paint.quiet('  (IPv6 addresses are not served on 0.0.0.0: start with --host :: to accept IPv6 too)'));
    }
  }
  if (!info.tls && !isLoopback(host)) {
    log.say('');
    log.say(`${paint.warn('note:')} the traffic is ${paint.strong('not encrypted')}: passwords and files cross the network in clear.`);
    log.say('      To encrypt: npm start -- cert, then npm start -- --tls-key tls/key.pem --tls-cert tls/cert.pem');
  }
}
