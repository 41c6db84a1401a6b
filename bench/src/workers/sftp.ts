/**
 * OpenSSH's SFTP server behind a throw-away sshd on 127.0.0.1 (../sshd.ts), driven by the `ssh2`
 * client: `fastPut` / `fastGet` with their defaults (64 requests of 32 KiB in flight), TCP_NODELAY
 * on the client's socket, public-key login with a generated ed25519 key.
 *
 * - The server worker only supervises sshd (a C server, one process per connection): it has no
 *   event loop of its own in the data path, so it reports no event-loop delay.
 * - `ping()` is an SFTP REALPATH of `.`, the cheapest request the server answers; SFTP multiplexes
 *   requests on one channel, so pings share the transfer's connection.
 * - Remote paths `/x` resolve inside the served folder (the server starts there with `-d`).
 * - Folders: OpenSSH's `sftp -r`, over an `ssh -M` master connection opened before the clock.
 * - No hashing: the harness checks every received copy by SHA-256 from disk.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ServerConfig } from '../messages.ts';
import { startSshd } from '../sshd.ts';
import { runSystemWorker } from './runtime.ts';
import type { Connection, Driver, RunningServer } from './runtime.ts';

async function startServer(config: ServerConfig): Promise<RunningServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fileshare-bench-sshd-'));
  const sshd = await startSshd({ dir, sftpRoot: config.root });
  return {
    port: sshd.port,
    dataDir: config.root,
    hints: { privateKeyPath: sshd.privateKeyPath, username: sshd.username, root: sshd.sftpRoot },
    reportsEventLoop: false,
    close: async () => {
      await sshd.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function client(): Promise<Driver> {
  const { Client } = await import('ssh2');
  const { readFile } = await import('node:fs/promises');
  type Sftp = import('ssh2').SFTPWrapper;
  return {
    maxInFlight: 64,
    pingDuringTransfer: true,
    async connect(config): Promise<Connection> {
      const hints = config.hints ?? {};
      const keyPath = hints.privateKeyPath;
      const root = hints.root;
      if (keyPath === undefined || root === undefined) throw new Error('sftp: the server gave no key or root');
      const privateKey = await readFile(keyPath);
      const sock = net.connect({ host: config.host, port: config.port });
      sock.setNoDelay(true);
      const ssh = new Client();
      const sftp = await new Promise<Sftp>((resolve, reject) => {
        ssh.once('error', reject);
        ssh.once('ready', () => {
          ssh.sftp((error, session) => (error ? reject(error) : resolve(session)));
        });
        ssh.connect({ sock, username: hints.username ?? os.userInfo().username, privateKey, readyTimeout: 60_000 });
      });
      ssh.on('error', () => {}); // a late error after close must not crash the worker
      const remotePath = (remote: string): string => path.posix.join(root, path.posix.normalize('/' + remote));
      const call = (fn: (cb: (error: Error | null | undefined) => void) => void): Promise<void> =>
        new Promise((resolve, reject) => fn((error) => (error ? reject(error) : resolve())));
      let master: Master | undefined;
      return {
        async upload(local, remote) {
          await call((cb) => sftp.fastPut(local, remotePath(remote), cb));
          return { bytes: (await import('node:fs')).statSync(local).size };
        },
        async download(remote, local) {
          await call((cb) => sftp.fastGet(remotePath(remote), local, cb));
          return { bytes: (await import('node:fs')).statSync(local).size };
        },
        async ping() {
          await new Promise<void>((resolve, reject) => sftp.realpath('.', (error) => (error ? reject(error) : resolve())));
        },
        // folders: OpenSSH's own `sftp -r` (the command-line client), as a user would run it, over a
        // master connection opened before the clock starts: the other systems' folder calls run
        // on a connection already logged in, so sftp's key exchange and login are not timed either
        async prepareTree() {
          master ??= await openMaster(config, keyPath);
        },
        uploadTree: (local, remote) => sftpBatch(config, keyPath, `put -r ${quote(local)} ${quote(remotePath(remote))}`, master),
        downloadTree: (remote, local) => sftpBatch(config, keyPath, `get -r ${quote(remotePath(remote))} ${quote(local)}`, master),
        async close() {
          ssh.end();
          await master?.close();
        },
      };
    },
  };
}

/** A path quoted for an sftp batch line. */
function quote(p: string): string {
  return `"${p.replace(/["\\]/g, '\\$&')}"`;
}

type Target = { host: string; port: number; hints?: Readonly<Record<string, string>> };

/** The OpenSSH client options every command here shares: the bench's key, no host-key prompts. */
function sshOptions(config: Target, keyPath: string): string[] {
  return [
    '-i',
    keyPath,
    '-o',
    `Port=${config.port}`,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
  ];
}

function destination(config: Target): string {
  return `${config.hints?.username ?? os.userInfo().username}@${config.host}`;
}

/** An OpenSSH client master connection (`ssh -M -N`) that `sftp` commands reach through its control socket. */
interface Master {
  readonly controlPath: string;
  /** Stop the master by its PID and remove its socket's folder. */
  close(): Promise<void>;
}

/** Open a master connection and wait (at most 30 s) until it is logged in and its control socket listens. */
async function openMaster(config: Target, keyPath: string): Promise<Master> {
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fileshare-bench-ssh-mux-'));
  const controlPath = path.join(dir, 'control');
  const child = spawn('ssh', ['-M', '-N', '-S', controlPath, ...sshOptions(config, keyPath), destination(config)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const close = async (): Promise<void> => {
    if (!gone) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  // ssh opens the control socket only once the connection is authenticated
  for (let i = 0; i < 1_500 && !existsSync(controlPath) && !gone; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  if (!existsSync(controlPath)) {
    await close();
    throw new Error(`sftp: the ssh master connection did not come up: ${stderr.trim().slice(0, 300) || 'timed out after 30 s'}`);
  }
  return { controlPath, close };
}

/**
 * Run one command with `sftp -b -` (stops at the first failure, exits non-zero), bounded to 10
 * minutes; over `master`'s connection when given, else on a connection of its own.
 */
async function sftpBatch(config: Target, keyPath: string, line: string, master?: Master): Promise<void> {
  const { spawn } = await import('node:child_process');
  const mux = master ? ['-o', `ControlPath=${master.controlPath}`, '-o', 'ControlMaster=no'] : [];
  const args = ['-b', '-', '-q', ...sshOptions(config, keyPath), ...mux, destination(config)];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sftp', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`sftp ${line}: exit ${code ?? signal}: ${stderr.trim().slice(0, 300)}`));
    });
    child.stdin.end(`${line}\n`);
  });
}

runSystemWorker({ server: startServer, client });
