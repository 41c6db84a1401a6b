/**
 * Trust on first use for TLS servers, like ssh's known_hosts. One line per server:
 *   host:port SHA256-FINGERPRINT        (e.g. `files.lan:4450 AB:CD:...`)
 * The client library pins a fingerprint but does not expose the socket, so the fingerprint of an
 * unknown server is read by a pre-flight TLS handshake of our own (no CA check: the pin is what
 * protects the real connection, which the library then makes with `tls: { fingerprint256 }`).
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { CliError, ExitCode, UsageError } from './errors.ts';
import type { Io } from './io.ts';

/** `host:port`, with IPv6 addresses in brackets. */
export function hostKey(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** `ab:cd..` / `ABCD..` → `AB:CD:..`, or undefined when it is not a SHA-256 (64 hex digits). */
export function canonicalFingerprint(input: string): string | undefined {
  const hex = input
    .replace(/^sha256[:=]?/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

export interface KnownHost {
  readonly fingerprint: string;
  /** 1-based line number, for the warning. */
  readonly line: number;
}

/** The entry for `key` in `file`, if any (a missing file is an empty list). */
export async function findKnownHost(file: string, key: string): Promise<KnownHost | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const [host, fp] = lines[i]!.trim().split(/\s+/);
    if (!host || host.startsWith('#') || host !== key || !fp) continue;
    const fingerprint = canonicalFingerprint(fp);
    if (fingerprint) return { fingerprint, line: i + 1 };
  }
  return undefined;
}

/** Append `key fingerprint` to `file` (folder 0700, file 0600, as ssh keeps its own). */
export async function addKnownHost(file: string, key: string, fingerprint: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await appendFile(file, `${key} ${fingerprint}\n`, { mode: 0o600 });
}

/** The SHA-256 fingerprint of the certificate `host:port` presents. */
export function fetchFingerprint(host: string, port: number, timeoutMs: number): Promise<string> {
  const key = hostKey(host, port);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ...(net.isIP(host) ? {} : { servername: host }) });
    const done = (err: CliError | undefined, fingerprint?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(fingerprint!);
    };
    const timer = setTimeout(
      () => done(new CliError(`timed out: no TLS handshake with ${key} within ${timeoutMs} ms`, ExitCode.CONNECTION)),
      timeoutMs,
    );
    socket.once('secureConnect', () => {
      const fp = socket.getPeerCertificate()?.fingerprint256;
      done(fp ? undefined : new CliError(`TLS: ${key} presented no certificate`, ExitCode.CONNECTION), fp);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED')
        return done(new CliError(`connection refused by ${key} (is the server running?)`, ExitCode.CONNECTION));
      if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return done(new CliError(`host not found: ${host}`, ExitCode.CONNECTION));
      if (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER')
        return done(new CliError(`${key} does not speak TLS (try without --tls)`, ExitCode.CONNECTION));
      done(new CliError(`TLS handshake with ${key} failed (is it a TLS server?): ${err.message}`, ExitCode.CONNECTION));
    });
  });
}

/** The loud refusal, modelled on ssh's. */
export function changedHostWarning(key: string, expected: KnownHost, presented: string, file: string): string {
  const bar = '@'.repeat(59);
  return [
    bar,
    '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
    bar,
    'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
    `The TLS certificate presented by ${key} is not the one you trusted before.`,
    'Someone could be eavesdropping on you right now (man-in-the-middle attack),',
    "or the server's certificate was replaced.",
    `Trusted fingerprint:   SHA256 ${expected.fingerprint}`,
    `Presented fingerprint: SHA256 ${presented}`,
    `The trusted fingerprint is line ${expected.line} of ${file}.`,
    'If you know the change is legitimate, remove that line (or pin the new value with --fingerprint) and connect again.',
    `Connection to ${key} refused: host identification failed.`,
  ].join('\n');
}

export interface PinOptions {
  host: string;
  port: number;
  /** The known_hosts file. */
  file: string;
  /** `--fingerprint`: pin this value; known_hosts is not consulted. */
  explicit?: string;
  /** `--accept-new`: trust and store an unknown server without asking. */
  acceptNew: boolean;
  timeoutMs: number;
  io: Io;
  /** Ask the user (on a terminal); undefined when nobody can be asked. */
  confirm?: (question: string) => Promise<boolean>;
}

/** The fingerprint to pin for this connection, after checking known_hosts (and asking, if new). */
export async function resolvePin(o: PinOptions): Promise<string> {
  if (o.explicit !== undefined) {
    const pinned = canonicalFingerprint(o.explicit);
    if (!pinned)
      throw new UsageError(
        `--fingerprint must be a SHA-256 fingerprint (64 hex digits, colons optional), got ${JSON.stringify(o.explicit)}`,
      );
    return pinned;
  }
  const key = hostKey(o.host, o.port);
  const [known, presented] = await Promise.all([findKnownHost(o.file, key), fetchFingerprint(o.host, o.port, o.timeoutMs)]);
  const fingerprint = canonicalFingerprint(presented)!;
  if (known) {
    if (known.fingerprint === fingerprint) return fingerprint;
    throw new CliError(changedHostWarning(key, known, fingerprint, o.file), ExitCode.CONNECTION);
  }
  const intro = `The authenticity of ${key} can't be established.\nIts TLS certificate has the SHA-256 fingerprint\n  ${fingerprint}`;
  if (!o.acceptNew) {
    if (!o.confirm) {
      throw new CliError(
        `unknown TLS server ${key} (certificate SHA256 ${fingerprint}): check the fingerprint with the server's operator, then use --accept-new or --fingerprint`,
        ExitCode.CONNECTION,
      );
    }
    o.io.err(intro);
    if (!(await o.confirm('Trust it and continue connecting (yes/no)? ')))
      throw new CliError(`host key verification failed: ${key} not trusted`, ExitCode.CONNECTION);
  } else {
    o.io.err(intro);
  }
  await addKnownHost(o.file, key, fingerprint);
  o.io.err(`Permanently added ${key} to the list of known hosts (${o.file}).`);
  return fingerprint;
}
