/** Connect (TLS pin included), ask for the credentials and log in: the start of every run. */
import { FileShareClient, type FileShareClientOptions } from 'fileshare';
import type { Session } from './commands/types.ts';
import { CliError, ExitCode, hasCode } from './errors.ts';
import type { Input } from './input.ts';
import type { Io } from './io.ts';

export interface ConnectSettings {
  host: string;
  port: number;
  /** From --user or FILESHARE_USER; asked for when missing. */
  user?: string;
  tls: boolean;
  fingerprint?: string;
  knownHosts: string;
  acceptNew: boolean;
  /** Connect and request timeout, ms (library defaults when unset). */
  timeoutMs?: number;
}

/** Wrong passwords allowed on a terminal before giving up, as ssh does. */
const PASSWORD_ATTEMPTS = 3;

export async function connect(settings: ConnectSettings, io: Io, input: Input): Promise<Session> {
  const { host, port } = settings;
  const useTls = settings.tls || settings.fingerprint !== undefined;
  const options: FileShareClientOptions = { host, port };
  if (settings.timeoutMs !== undefined) {
    options.connectTimeout = settings.timeoutMs;
    options.requestTimeout = settings.timeoutMs;
  }
  if (useTls) {
    const { resolvePin } = await import('./known-hosts.ts');
    const fingerprint256 = await resolvePin({
      host,
      port,
      file: settings.knownHosts,
      acceptNew: settings.acceptNew,
      timeoutMs: settings.timeoutMs ?? 10_000,
      io,
      ...(settings.fingerprint === undefined ? {} : { explicit: settings.fingerprint }),
      ...(input.tty ? { confirm: (q: string) => input.confirm(q) } : {}),
    });
    options.tls = { fingerprint256 };
  }
  const client = new FileShareClient(options);
  await client.connect();
  try {
    const username = settings.user || (await input.question(`Username for ${host}:${port}: `))?.trim();
    if (!username) throw new CliError('no username: use --user or FILESHARE_USER', ExitCode.USAGE);
    const fromEnv = process.env.FILESHARE_PASSWORD;
    for (let attempt = 1; ; attempt++) {
      const password = fromEnv ?? (await input.secret(`Password for ${username}@${host}:`));
      if (password === undefined) throw new CliError('no password: set FILESHARE_PASSWORD or give it on stdin', ExitCode.AUTH);
      try {
        await client.login(username, password);
        break;
      } catch (err) {
        const canRetry = fromEnv === undefined && input.tty && attempt < PASSWORD_ATTEMPTS && client.connected;
        if (!hasCode(err, 'EAUTH') || !canRetry) throw err;
        io.err('Wrong username or password, please try again.');
      }
    }
    return makeSession(client, host, port, username, useTls);
  } catch (err) {
    await client.close();
    throw err;
  }
}

function makeSession(client: FileShareClient, host: string, port: number, username: string, tls: boolean): Session {
  let closing: Promise<void> | undefined;
  return {
    client,
    host,
    port,
    username,
    tls,
    get closing() {
      return closing !== undefined;
    },
    close() {
      closing ??= (async () => {
        if (client.connected) {
          // logout waits for the server to close; never let a stuck server hold the exit
          const timer = new Promise((resolve) => setTimeout(resolve, 2000).unref());
          await Promise.race([client.logout().catch(() => {}), timer]);
        }
        await client.close();
      })();
      return closing;
    },
  };
}
