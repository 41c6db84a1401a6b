/**
 * The default command: run the server until Ctrl-C / SIGTERM, logging every event.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FileShareServer, JsonFileAuthProvider, listUsers } from 'fileshare';
import { isLoopback } from './addresses.ts';
import { printAddresses, printHeader } from './banner.ts';
import { AppError, describeError } from './errors.ts';
import { logServerEvents } from './events-log.ts';
import { ensureUsersFile } from './first-run.ts';
import { hostPort } from './format.ts';
import { createLogger, type Logger } from './log.ts';
import { loadTls } from './tls.ts';

/** The parsed flags of the default command (times in seconds, as typed). */
export interface ServeOptions {
  host: string;
  port: number;
  root: string;
  users: string;
  tlsKey?: string;
  tlsCert?: string;
  maxConnections: number;
  idleTimeout: number;
  closeTimeout: number;
  maxFileSize?: number;
  fsync: boolean;
  /** Answer UDP probes (packet loss measurement); `--no-udp-probes` turns it off. */
  udpProbes: boolean;
}

/**
 * Signals closer together than this are one keypress: in a terminal, Ctrl-C reaches npm,
 * scripts/run.mjs and this process at once, and both parents also forward it to us.
 */
const SAME_KEYPRESS_MS = 500;

/** Start the server; resolves once it listens (shutdown is driven by signals). */
export async function serve(opts: ServeOptions, defaults: { users: string }): Promise<void> {
  const log = createLogger();
  const root = resolve(opts.root);
  const usersFile = resolve(opts.users);
  const tls = await loadTls(opts.tlsKey, opts.tlsCert);
  await checkRoot(root);
  const usersFlag = opts.users === defaults.users ? '' : ` --users ${/[\s"'$]/.test(opts.users) ? JSON.stringify(opts.users) : opts.users}`;
  await ensureUsersFile(usersFile, usersFlag, log);

  const auth = new JsonFileAuthProvider(usersFile, {
    onError: (err) => log.warn(`users file: ${err.message}; the previous users stay in effect`),
  });
  try {
    await auth.load(); // fail now, not at the first login
  } catch (err) {
    auth.close();
    throw new AppError(`cannot load the users file: ${describeError(err)}`);
  }
  const server = new FileShareServer({
    root,
    auth,
    host: opts.host,
    port: opts.port,
    tls: tls?.options,
    maxConnections: opts.maxConnections,
    idleTimeout: Math.max(1, Math.round(opts.idleTimeout * 1000)),
    closeTimeout: Math.round(opts.closeTimeout * 1000),
    maxFileSize: opts.maxFileSize,
    fsync: opts.fsync,
    udpProbes: opts.udpProbes,
  });
  logServerEvents(server, log, { ownPlaintextNote: !tls && !isLoopback(opts.host) });

  const info = {
    root,
    usersFile,
    userCount: (await listUsers(usersFile)).length,
    host: opts.host,
    port: opts.port,
    tls: tls && { fingerprint: tls.fingerprint, validTo: tls.validTo },
    limits: { maxConnections: opts.maxConnections, idleTimeoutS: opts.idleTimeout, maxFileSize: opts.maxFileSize, fsync: opts.fsync },
  };
  let bound: { address: string; port: number };
  try {
    bound = await server.listen();
  } catch (err) {
    auth.close();
    throw listenError(err, opts.host, opts.port);
  }
  printHeader(log, { ...info, udpProbePort: server.udpProbePort, udpProbesWanted: opts.udpProbes });
  log.say('');
  log.event('listening on', hostPort(bound.address, bound.port)); // tests parse this line
  printAddresses(log, { ...info, port: bound.port });
  log.say('');
  const stopWatching = logUserChanges(usersFile, log);
  handleSignals(server, log, opts.closeTimeout, stopWatching);
}

/** The root must be a folder we can read and write (created if missing). */
async function checkRoot(root: string): Promise<void> {
  try {
    await mkdir(root, { recursive: true });
    if (!(await stat(root)).isDirectory()) throw new AppError(`--root ${root} is not a folder`);
    await access(root, constants.R_OK | constants.W_OK);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError(`cannot use --root ${root}: ${describeError(err)}`);
  }
}

/** A one-line explanation of a failed listen(), with the flag to change. */
function listenError(err: unknown, host: string, port: number): AppError {
  const at = hostPort(host, port);
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return new AppError(`port ${port} is already in use on ${host} (another server running?); choose another with --port`);
    case 'EACCES':
      return new AppError(`not allowed to listen on ${at} (ports below 1024 need privileges); choose another with --port`);
    case 'EADDRNOTAVAIL':
      return new AppError(`${host} is not an address of this machine; check --host`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new AppError(`cannot resolve --host ${host}`);
    default:
      return new AppError(`cannot listen on ${at}: ${describeError(err)}`);
  }
}

/**
 * Log who is in the users file whenever it changes (the auth provider reloads it on its own;
 * this only tells the operator). Invalid versions are reported by the provider's onError.
 */
function logUserChanges(file: string, log: Logger): () => void {
  const listener = () => {
    listUsers(file).then(
      (users) =>
        log.event(
          'users reloaded',
          `${users.length} ${users.length === 1 ? 'user' : 'users'} (${users.map((u) => u.username).join(', ')})`,
        ),
      () => undefined,
    );
  };
  watchFile(file, { interval: 1000, persistent: false }, listener);
  return () => unwatchFile(file, listener);
}

/** First SIGINT/SIGTERM/SIGHUP: graceful close, exit 0. Another one later: exit at once. */
function handleSignals(server: FileShareServer, log: Logger, closeTimeoutS: number, stopWatching: () => void): void {
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (firstAt === 0) {
      firstAt = now;
      const open = server.connectionCount;
      const waiting =
        open > 0 ? `; ${open === 1 ? '1 open connection gets' : `${open} open connections get`} up to ${closeTimeoutS} s to finish` : '';
      log.event('shutting down', `(${signal}${waiting}; press Ctrl-C again to force)`);
      stopWatching();
      server.close().then(
        () => {
          log.event('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          log.error(`shutdown failed: ${describeError(err)}`);
          process.exit(1);
        },
      );
    } else if (now - firstAt >= SAME_KEYPRESS_MS) {
      log.event(
        'forced exit',
        '(unfinished uploads leave hidden .fileshare-part-* files; the server sweeps them once they are an hour old)',
      );
      process.exit(130);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}
