/**
 * Which addresses other devices can use to reach the server, from os.networkInterfaces().
 */
import os from 'node:os';

/** One address a client can connect to. */
export interface ReachableAddress {
  /** The address, with `%interface` for IPv6 link-local ones (clients on Linux/macOS need it). */
  address: string;
  /** Interface name, such as `eth0` or `Wi-Fi`. */
  iface: string;
  family: 'IPv4' | 'IPv6';
}

/** The machine's non-internal IPv4 and IPv6 addresses (the LAN, VPNs, ...). */
export function lanAddresses(): ReachableAddress[] {
  const found: ReachableAddress[] = [];
  for (const [iface, infos] of Object.entries(os.networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      const linkLocal = info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80:');
      found.push({ address: linkLocal ? `${info.address}%${iface}` : info.address, iface, family: info.family });
    }
  }
  // IPv4 first: that is what people type.
  return found.sort((a, b) => (a.family === b.family ? 0 : a.family === 'IPv4' ? -1 : 1));
}

/** Whether an address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1';
}

/** Whether the server listens on every interface (`0.0.0.0` for IPv4, `::` for IPv4 and IPv6). */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** DNS names a certificate should cover: the host name, its mDNS `.local` name, and localhost. */
export function hostNames(): string[] {
  const name = os.hostname();
  const names = new Set(['localhost', name]);
  if (name && !name.includes('.')) names.add(`${name}.local`);
  return [...names].filter(Boolean);
}
