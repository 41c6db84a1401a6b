/**
 * The peer a Node user would otherwise pick: ftp-srv (server) and basic-ftp (client), real FTP over
 * loopback with both packages' default settings (passive mode, no TCP_NODELAY changes, no hashing:
 * the harness verifies received copies by SHA-256 from disk after the timed part).
 *
 * - Passive data ports come from a range the harness picks outside the kernel's ephemeral range.
 * - `ping()` is a NOOP round trip on the control connection. basic-ftp runs one command at a time
 *   per client, so pings under load go over a second client (pingDuringTransfer: false), and
 *   "as many in flight as the API allows" means several clients with one transfer each.
 */
import { statSync } from 'node:fs';
import type { ServerConfig } from '../messages.ts';
import { HOST } from '../messages.ts';
import { runSystemWorker } from './runtime.ts';
import type { Connection, Driver, RunningServer } from './runtime.ts';

/** A bunyan-shaped logger that drops everything (ftp-srv logs to stdout by default). */
function silentLogger(): Record<string, unknown> {
  const log: Record<string, unknown> = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = () => {};
  log.child = () => log;
  return log;
}

async function startServer(config: ServerConfig): Promise<RunningServer> {
  const { FtpSrv } = await import('ftp-srv');
  const server = new FtpSrv({
    url: `ftp://${HOST}:0`,
    pasv_url: HOST,
    ...(config.pasvRange ? { pasv_min: config.pasvRange[0], pasv_max: config.pasvRange[1] } : {}),
    anonymous: false,
    log: silentLogger(),
  });
  server.on('login', ({ username, password }, resolve, reject) => {
    if (username === config.user && password === config.password) resolve({ root: config.root });
    else reject(new Error('bad credentials'));
  });
  await server.listen();
  // ftp-srv keeps its net.Server on `.server`; its port is the only way to learn a port-0 bind.
  const inner = (server as unknown as { server: import('node:net').Server }).server;
  const address = inner.address();
  if (address === null || typeof address === 'string') throw new Error('ftp-srv: no address');
  return {
    port: address.port,
    dataDir: config.root,
    close: async () => {
      await server.close();
    },
  };
}

async function client(): Promise<Driver> {
  const { Client } = await import('basic-ftp');
  return {
    maxInFlight: 1,
    pingDuringTransfer: false,
    async connect(config): Promise<Connection> {
      const ftp = new Client(30_000);
      try {
        await ftp.access({
          host: config.host,
          port: config.port,
          user: config.user,
          password: config.password,
          secure: false,
        });
      } catch (error) {
        ftp.close();
        throw error;
      }
      return {
        async upload(local, remote) {
          await ftp.uploadFrom(local, remote);
          return { bytes: statSync(local).size };
        },
        async download(remote, local) {
          await ftp.downloadTo(local, remote);
          return { bytes: statSync(local).size };
        },
        async ping() {
          await ftp.send('NOOP');
        },
        async uploadTree(local, remote) {
          await ftp.uploadFromDir(local, remote);
          await ftp.cd('/');
        },
        async downloadTree(remote, local) {
          await ftp.downloadToDir(local, remote);
          await ftp.cd('/');
        },
        async close() {
          ftp.close();
        },
      };
    },
  };
}

runSystemWorker({ server: startServer, client });
