/**
 * The run's connection: connect and log in, and when the connection drops mid-run (server
 * restart, network cut), reconnect at once, then every half second until the run ends. Pings sent meanwhile
 * count as lost, which is what the chart should show.
 */
import { FileShareClient, type FileShareClientOptions, isFileShareError } from 'fileshare';
import { withTimeout } from './load.ts';

export interface SessionOptions {
  readonly client: FileShareClientOptions;
  readonly user: string;
  readonly password: string;
  readonly timeoutMs: number;
  /** Ends reconnection attempts (the end of the run). */
  readonly signal: AbortSignal;
}

export interface SessionEvents {
  onDrop?(reason: string): void;
  onReconnected?(): void;
  /** Reconnecting cannot work (credentials refused): the run should stop. */
  onGiveUp?(reason: string): void;
}

/** Error codes after which trying again is pointless. */
const FATAL = new Set(['EAUTH', 'EACCES', 'ETLS', 'EPROTO']);

export class Session {
  /** The connected client, undefined while reconnecting. */
  client: FileShareClient | undefined;
  reconnects = 0;
  /** Why the last connection attempt failed, if it did. */
  lastError: string | undefined;
  private closing = false;

  constructor(
    private readonly opts: SessionOptions,
    private readonly events: SessionEvents = {},
  ) {}

  get where(): string {
    return `${this.opts.client.host ?? '127.0.0.1'}:${this.opts.client.port ?? 4450}`;
  }

  /** Connect and log in; returns why it failed, undefined on success. */
  async open(): Promise<string | undefined> {
    const { client, error } = await this.attempt();
    if (error !== undefined) return error;
    this.adopt(client);
    return undefined;
  }

  /** Round trip in ms, `null` when lost (timed out, or no connection right now). */
  async ping(): Promise<number | null> {
    const client = this.client;
    if (!client?.connected) return null;
    return client.ping({ timeout: this.opts.timeoutMs }).catch(() => null);
  }

  /** Log out (bounded) and close; no reconnection after this. */
  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    if (client?.connected)
      await withTimeout(
        client.logout().catch(() => undefined),
        3000,
      );
    await client?.close();
  }

  private adopt(client: FileShareClient): void {
    this.client = client;
    client.on('close', (error) => {
      if (this.closing || this.client !== client) return;
      this.client = undefined;
      if (this.opts.signal.aborted) return; // the run is over: no reconnection
      this.events.onDrop?.(error ? `${error.message} (${error.code})` : 'closed by the server');
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    const { signal } = this.opts;
    for (let attempt = 0; !signal.aborted && !this.closing; attempt++) {
      await sleep(attempt === 0 ? 0 : 500, signal);
      if (signal.aborted || this.closing) return;
      const { client, error, fatal } = await this.attempt();
      if (error === undefined) {
        this.reconnects++;
        this.adopt(client);
        this.events.onReconnected?.();
        return;
      }
      if (fatal) return this.events.onGiveUp?.(error);
    }
  }

  /** One connect + login; Ctrl-C (the signal) closes the attempt. */
  private async attempt(): Promise<
    { client: FileShareClient; error?: undefined; fatal?: undefined } | { client?: undefined; error: string; fatal: boolean }
  > {
    const { signal, user } = this.opts;
    if (signal.aborted) return { error: 'interrupted before connecting', fatal: true };
    const client = new FileShareClient({ ...this.opts.client, pingTimeout: this.opts.timeoutMs });
    const onAbort = () => void client.close();
    signal.addEventListener('abort', onAbort, { once: true });
    let step = 'connect';
    try {
      await client.connect();
      step = 'login';
      await client.login(user, this.opts.password);
      this.lastError = undefined;
      return { client };
    } catch (err) {
      await client.close();
      const fatal = signal.aborted || (isFileShareError(err) && FATAL.has(err.code));
      this.lastError = signal.aborted ? `interrupted during ${step}` : describe(step, user, this.where, err);
      return { error: this.lastError, fatal };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function describe(step: string, user: string, where: string, err: unknown): string {
  const what = isFileShareError(err) ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
  if (step === 'connect') return `cannot connect to ${where}: ${what}`;
  const hint = isFileShareError(err) && err.code === 'EAUTH' ? ': wrong user name or password' : '';
  return `login as ${user} on ${where} failed${hint}: ${what}`;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
