/**
 * A throw-away OpenSSH server on 127.0.0.1, for comparing fileshare with OpenSSH's SFTP server.
 *
 * SFTP is served by `internal-sftp`: the same server code as the `sftp-server` binary, run inside
 * the session's sshd process. The binary would be started through the login user's shell
 * (`$SHELL -c sftp-server`), and bash reads `~/.bashrc` when started by sshd, so every connection
 * would pay whatever that file does: on this project's machines root's `.bashrc` runs `pyenv init`,
 * about 1 s of CPU, which turned a 200-client storm into minutes and put a second of shell start-up
 * into every `sftp -r` figure. A server tuned for SFTP does not pay it, so the baseline does not.
 *
 * Everything it needs lives in one temporary folder: a generated ed25519 host key, a generated
 * ed25519 user key (authorized for the current user), and its own `sshd_config`. It never reads or
 * writes the system's sshd configuration, listens on loopback only, accepts public keys only, and
 * is stopped by its PID. It runs under a tiny shell guard that holds a pipe from this process:
 * when this process dies (even by SIGKILL) the pipe closes and the guard stops sshd by its PID, so
 * no sshd outlives the process that started it.
 *
 * `sshd` comes from Debian's `openssh-server`; when it is missing and we are root, it is installed
 * with apt-get (`apt-get update` first). No module here depends on the rest of the bench, so tests
 * and other tools can import it.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian puts the binaries. */
export const SSHD_PATH = '/usr/sbin/sshd';

/** A running throw-away sshd. */
export interface Sshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The login name (the user this process runs as). */
  readonly username: string;
  /** The user's private key (OpenSSH PEM), for ssh2's `privateKey`. */
  readonly privateKey: Buffer;
  /** Path of the same private key, for `ssh -i` / `sftp -i`. */
  readonly privateKeyPath: string;
  /** The host's public key line (`ssh-ed25519 AAAA...`), for a known_hosts entry or host-key check. */
  readonly hostPublicKey: string;
  /** The folder the SFTP server starts in: relative SFTP paths resolve against it. */
  readonly sftpRoot: string;
  /** PID of the sshd listener. */
  readonly pid: number;
  /** Stop sshd (SIGTERM by PID, SIGKILL after 5 s) and wait for it to be gone. */
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** A private folder for keys, config and logs (created if missing). */
  readonly dir: string;
  /** Start folder of the SFTP server (created if missing). Default: `<dir>/root`. */
  readonly sftpRoot?: string;
  /** Install openssh-server with apt-get when sshd is missing (default true; needs root). */
  readonly install?: boolean;
  /** Extra `sshd_config` lines. */
  readonly extraConfig?: readonly string[];
  /** Forward sshd's log (stderr) to ours. */
  readonly verbose?: boolean;
  readonly signal?: AbortSignal;
}

/** Whether sshd (which serves SFTP itself, `internal-sftp`) is on this machine. */
export function sshdAvailable(): boolean {
  return existsSync(SSHD_PATH);
}

/** Install openssh-server with apt-get when sshd is missing. Throws with a clear message if it cannot. */
export async function ensureSshd(): Promise<void> {
  if (sshdAvailable()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${SSHD_PATH} is missing: install openssh-server (apt-get install openssh-server)`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env, timeout: 300_000 });
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'openssh-server'], { env, timeout: 300_000 });
  if (!sshdAvailable()) throw new Error('apt-get installed openssh-server, but sshd is still missing');
}

/** A free loopback port (sshd cannot bind port 0 and report it, so we pick one and hand it over). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function keygen(file: string, comment: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

/** Wait until sshd logs that it listens, or fails. */
function listening(child: ChildProcess, verbose: boolean, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => done(new Error(`sshd did not start in ${timeoutMs} ms: ${log.trim()}`)), timeoutMs);
    const done = (error?: Error, pid?: number): void => {
      clearTimeout(timer);
      child.stderr?.removeListener('data', onData);
      child.removeListener('exit', onExit);
      if (error) reject(error);
      else resolve(pid!);
    };
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      const pid = /^sshd-pid (\d+)$/m.exec(log);
      if (/Server listening on/.test(log) && pid) done(undefined, Number(pid[1]));
    };
    const onExit = (code: number | null): void => done(new Error(`sshd exited (${code}) before listening: ${log.trim()}`));
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    if (verbose) child.stderr?.pipe(process.stderr);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start a throw-away sshd on 127.0.0.1. */
export async function startSshd(options: StartSshdOptions): Promise<Sshd> {
  options.signal?.throwIfAborted();
  if (options.install !== false) await ensureSshd();
  else if (!sshdAvailable()) throw new Error(`${SSHD_PATH} is missing: install openssh-server`);
  const dir = path.resolve(options.dir);
  const sftpRoot = path.resolve(options.sftpRoot ?? path.join(dir, 'root'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(sftpRoot, { recursive: true });
  // sshd insists on its privilege-separation folder even when it never drops to the sshd user.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => {});

  const hostKey = path.join(dir, 'host_ed25519');
  const userKey = path.join(dir, 'user_ed25519');
  if (!existsSync(hostKey)) await keygen(hostKey, 'fileshare-bench-host');
  if (!existsSync(userKey)) await keygen(userKey, 'fileshare-bench-user');
  const authorized = path.join(dir, 'authorized_keys');
  await writeFile(authorized, await readFile(userKey + '.pub'));
  await chmod(authorized, 0o600);

  const username = os.userInfo().username;
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      `AllowUsers ${username}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The temp folder's owner and modes are ours; sshd's home-folder checks do not apply.
      'StrictModes no',
      'UseDNS no',
      'PrintMotd no',
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'MaxStartups 1000:30:2000',
      'MaxSessions 100',
      'LogLevel INFO',
      `Subsystem sftp internal-sftp -d ${sftpRoot}`,
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  // The guard: start sshd in the foreground (-D) logging to stderr (-e), print its PID, then wait
  // for our pipe on stdin to close (stop() or our death) and stop sshd by that PID.
  const script =
    `"${SSHD_PATH}" -D -e -f "$1" & pid=$!; echo "sshd-pid $pid" >&2; ` +
    `cat >/dev/null; kill -TERM "$pid" 2>/dev/null; ` +
    `for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.5; done; kill -KILL "$pid" 2>/dev/null; wait "$pid"`;
  const guard = spawn('/bin/sh', ['-c', script, 'sshd-guard', config], { stdio: ['pipe', 'ignore', 'pipe'] });
  const guardExited = new Promise<void>((resolve) => guard.once('exit', () => resolve()));
  let pid: number;
  try {
    pid = await listening(guard, options.verbose ?? false, 15_000);
  } catch (error) {
    guard.stdin?.end();
    await guardExited;
    throw error;
  }
  if (!options.verbose) guard.stderr?.resume();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      guard.stdin?.end();
      const deadline = Date.now() + 8_000;
      await Promise.race([guardExited, new Promise((r) => setTimeout(r, 8_000))]);
      if (alive(pid) && Date.now() >= deadline) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    })();
    return stopping;
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });

  return {
    host: '127.0.0.1',
    port,
    username,
    privateKey: await readFile(userKey),
    privateKeyPath: userKey,
    hostPublicKey: (await readFile(hostKey + '.pub', 'utf8')).trim(),
    sftpRoot,
    pid,
    stop,
  };
}
