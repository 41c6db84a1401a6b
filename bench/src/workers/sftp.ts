/**
 * OpenSSH's sftp-server behind a throw-away sshd on 127.0.0.1 (../sshd.ts), driven by the `ssh2`
 * client: `fastPut` / `fastGet` with their defaults (64 requests of 32 KiB in flight), TCP_NODELAY
 * on the client's socket, public-key login with a generated ed25519 key.
 *
 * - The server worker only supervises sshd (a C server, one process per connection): it has no
 *   event loop of its own in the data path, so it reports no event-loop delay.
 * - `ping()` is an SFTP REALPATH of `.`, the cheapest request sftp-server answers; SFTP multiplexes
 *   requests on one channel, so pings share the transfer's connection.
 * - Remote paths `/x` resolve inside the served folder (sftp-server starts there with `-d`).
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
        // folders: OpenSSH's own `sftp -r` (the command-line client), as a user would run it
        uploadTree: (local, remote) => sftpBatch(config, keyPath, `put -r ${quote(local)} ${quote(remotePath(remote))}`),
        downloadTree: (remote, local) => sftpBatch(config, keyPath, `get -r ${quote(remotePath(remote))} ${quote(local)}`),
        async close() {
          ssh.end();
        },
      };
    },
  };
}

/** A path quoted for an sftp batch line. */
function quote(p: string): string {
  return `"${p.replace(/["\\]/g, '\\$&')}"`;
}

/** Run one command with `sftp -b -` (stops at the first failure, exits non-zero), bounded to 10 minutes. */
async function sftpBatch(
  config: { host: string; port: number; hints?: Readonly<Record<string, string>> },
  keyPath: string,
  line: string,
): Promise<void> {
  const { spawn } = await import('node:child_process');
  const user = config.hints?.username ?? os.userInfo().username;
  const args = [
    '-b',
    '-',
    '-q',
    '-P',
    String(config.port),
    '-i',
    keyPath,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'LogLevel=ERROR',
    `${user}@${config.host}`,
  ];
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
