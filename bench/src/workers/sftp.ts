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
        async close() {
          ssh.end();
        },
      };
    },
  };
}

runSystemWorker({ server: startServer, client });
