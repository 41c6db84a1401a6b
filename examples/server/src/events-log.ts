/**
 * One log line per server event. The wording is fixed so logs can be grepped:
 * `login ok alice from 192.168.1.20`, `login failed bob from 10.0.0.7: EAUTH`,
 * `upload alice /docs/a.pdf 12.3 MB in 1.1 s, 11.2 MB/s`, `disconnect #4 alice from ...`.
 * Client-supplied text goes through `clean()` so it cannot forge lines.
 */
import type { ConnectionInfo, FileShareServer, TransferEvent } from 'fileshare';
import { clean, displayAddress, formatBytes, formatDuration, formatRate, hostPort } from './format.ts';
import { type Logger, paint } from './log.ts';

/** Options of {@link logServerEvents}. */
export interface EventLogOptions {
  /**
   * Drop the library's plaintext warning: the app prints its own note with the flags to use.
   * The library only warns through `warning` when someone listens, so Node's default
   * `(node:123) Warning: ...` print never appears either.
   */
  ownPlaintextNote: boolean;
}

/** Subscribe to every event of `server` and log it. */
export function logServerEvents(server: FileShareServer, log: Logger, options: EventLogOptions): void {
  const from = (c: ConnectionInfo) => displayAddress(c.remoteAddress);
  const id = (c: ConnectionInfo) => paint.quiet(`(#${c.id})`);
  const user = (name: string | undefined) => (name === undefined ? '-' : clean(name));
  const transfer = (kind: 'upload' | 'download') => (e: TransferEvent) => {
    const how = `${formatBytes(e.bytes)} in ${formatDuration(e.ms)}, ${formatRate(e.mbps)}`;
    log.event(kind, `${user(e.username)} ${clean(e.path)} ${how} ${id(e.connection)}`, paint.transfer);
  };

  server.on('connection', (c) => log.event('connection', `#${c.id} from ${hostPort(from(c), c.remotePort)}${c.secure ? ' (TLS)' : ''}`));
  server.on('login', (e) => log.event('login ok', `${user(e.username)} from ${from(e.connection)} ${id(e.connection)}`, paint.ok));
  server.on('loginFailed', (e) =>
    log.event('login failed', `${user(e.username)} from ${from(e.connection)}: ${e.code} ${id(e.connection)}`, paint.bad),
  );
  server.on('upload', transfer('upload'));
  server.on('download', transfer('download'));
  for (const op of ['delete', 'mkdir', 'rmdir'] as const) {
    server.on(op, (e) => log.event(op, `${user(e.username)} ${clean(e.path)} ${id(e.connection)}`, paint.change));
  }
  server.on('rename', (e) =>
    log.event('rename', `${user(e.username)} ${clean(e.path)} -> ${clean(e.to)} ${id(e.connection)}`, paint.change),
  );
  server.on('requestFailed', (e) => {
    if (e.op === 'login' && e.username === undefined) return; // already logged as `login failed`
    // `stat` of a missing path is how clients ask "does it exist?" (before every put): not a failure
    if (e.op === 'stat' && (e.error.code === 'ENOENT' || e.error.code === 'ENOTDIR')) return;
    log.event('request failed', `${e.op} ${user(e.username)}: ${e.error.code} ${clean(e.error.message)} ${id(e.connection)}`, paint.quiet);
  });
  server.on('disconnect', (e) => {
    const why = e.error ? `: ${e.error.code} ${clean(e.error.message)}` : '';
    log.event('disconnect', `#${e.connection.id} ${user(e.username)} from ${from(e.connection)}${why}`, e.error ? paint.warn : undefined);
  });
  server.on('warning', ({ code, message }) => {
    if (options.ownPlaintextNote && code === 'FILESHARE_PLAINTEXT') return;
    log.warn(message);
  });
  server.on('error', (err) => log.error(err.message));
}
