/**
 * The system under test: fileshare's own server and client (TLS off or on, as configured).
 *
 * Written against the library's public API as specified in the benchmark issue; it loads
 * `src/index.ts` only when run, so the rest of the suite works while the library is being written.
 * The client is multiplexed: pings share the transfer's connection and up to `maxInFlight`
 * requests run on one connection.
 */
import { readFileSync } from 'node:fs';
import type { ClientConfig, ServerConfig } from '../messages.ts';
import { HOST } from '../messages.ts';
import { runSystemWorker } from './runtime.ts';
import type { Connection, Driver, RunningServer } from './runtime.ts';

/** Requests in flight on one connection: the protocol's default `maxRequestsInFlight` (docs/protocol.md §3). */
const MAX_IN_FLIGHT = 64;

/**
 * Tuning knobs for experiments (not used by the standard run): override the DATA chunk size and
 * the flow-control window on both sides, e.g. `FILESHARE_BENCH_CHUNK=262144 FILESHARE_BENCH_WINDOW=2097152`.
 */
const tuning = {
  ...(process.env.FILESHARE_BENCH_CHUNK ? { chunkSize: Number(process.env.FILESHARE_BENCH_CHUNK) } : {}),
  ...(process.env.FILESHARE_BENCH_WINDOW ? { window: Number(process.env.FILESHARE_BENCH_WINDOW) } : {}),
};
/** The folder calls' `concurrency` for experiments (`FILESHARE_BENCH_TREE_CONCURRENCY`); unset, the library's default. */
const treeOptions = {
  overwrite: true,
  ...(process.env.FILESHARE_BENCH_TREE_CONCURRENCY ? { concurrency: Number(process.env.FILESHARE_BENCH_TREE_CONCURRENCY) } : {}),
};

/** bcrypt of `password` at cost 10 with a salt derived from `seedHex` (same inputs, same hash). */
async function fixedSaltHash(password: string, seedHex: string): Promise<string> {
  const bcrypt = (await import('bcryptjs')).default;
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const seed = Buffer.from(seedHex, 'hex');
  const salt = Array.from({ length: 22 }, (_, i) => alphabet[seed[i % seed.length]! % 64]).join('');
  return bcrypt.hash(password, `$2b$10$${salt}`);
}

async function startServer(config: ServerConfig): Promise<RunningServer> {
  const { FileShareServer, MemoryAuthProvider, hashPassword, verifyPassword } = await import('../../../src/index.ts');
  const { bcryptPool } = await import('../../../src/auth/bcrypt-pool.ts');
  // Across a restart (the reconnect workload) the user's password hash must stay the same, as a
  // users file keeps it: a new hash is a password change, which rightly invalidates every token.
  // So with a resumption key the salt comes from that key instead of from chance.
  const auth = config.resumeKey
    ? new MemoryAuthProvider({ users: { [config.user]: { passwordHash: await fixedSaltHash(config.password, config.resumeKey) } } })
    : await MemoryAuthProvider.fromPasswords({ [config.user]: config.password });
  // One verification's time, one at a time on a warm pool: the unit of the login-storm target.
  const hash = await hashPassword(config.password);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    await verifyPassword(config.password, hash);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  // the s3 workload: the same server over a bucket
  const s3 = config.s3;
  const storage = s3
    ? new (await import('../../../src/storage/s3/index.ts')).S3Storage({
        bucket: s3.bucket,
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      })
    : undefined;
  const server = new FileShareServer({
    root: storage ?? config.root,
    auth,
    host: HOST,
    port: 0,
    // Every bench client connects from 127.0.0.1: lift the per-address cap (default 32) to the
    // number of clients the workloads open, as an operator expecting that many would.
    maxConnections: Math.max(256, config.maxClients),
    maxConnectionsPerAddress: config.maxClients,
    // ... and let that many logins wait for a bcrypt thread (default 128), for as long as a storm
    // of them takes: 1,000 checks of 70 ms on two cores are 35 s, past the 30 s login timeout.
    maxPendingLogins: config.maxClients,
    loginTimeout: 600_000,
    ...tuning,
    ...(config.tls ? { tls: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } } : {}),
    ...(config.resumeKey ? { resumption: { key: Buffer.from(config.resumeKey, 'hex') } } : {}),
  });
  await server.listen();
  return {
    port: server.address().port,
    // A user added with a plain password has no `home`: `/` is the whole root.
    dataDir: config.root,
    hints: { verifyMs: String(times[2]), bcryptThreads: String(bcryptPool().threads) },
    close: async () => {
      await server.close();
      storage?.client.destroy();
    },
  };
}

async function client(): Promise<Driver> {
  const { FileShareClient } = await import('../../../src/index.ts');
  type Share = InstanceType<typeof FileShareClient>;
  const open = async (config: ClientConfig, login: (share: Share) => Promise<unknown>): Promise<Share> => {
    const share = new FileShareClient({
      host: config.host,
      port: config.port,
      // A client of a 1,000-login storm waits its turn behind the others' bcrypt checks (and, on a
      // loaded machine, for the server to accept it): the defaults (10 s connect, 30 s per call)
      // would fail it where a patient user would just be slow to get in.
      connectTimeout: 120_000,
      requestTimeout: 600_000,
      ...tuning,
      ...(config.tlsCa ? { tls: { ca: readFileSync(config.tlsCa), servername: 'localhost' } } : {}),
    });
    try {
      await share.connect();
      await login(share);
    } catch (error) {
      await Promise.resolve(share.close()).catch(() => {});
      throw error;
    }
    return share;
  };
  return {
    maxInFlight: MAX_IN_FLIGHT,
    pingDuringTransfer: true,
    async loginForToken(config) {
      const share = await open(config, (s) => s.login(config.user, config.password));
      const token = share.resumeToken;
      await share.close();
      if (token === undefined) throw new Error('the server issued no resumption token');
      return JSON.stringify(token);
    },
    async resumeWith(config, token) {
      return wrap(await open(config, (s) => s.resume(JSON.parse(token))));
    },
    async connect(config): Promise<Connection> {
      return wrap(await open(config, (s) => s.login(config.user, config.password)));
    },
  };

  function wrap(share: Share): Connection {
    return {
      async upload(local, remote) {
        const { bytes, sha256 } = await share.upload(local, remote, { overwrite: true });
        return { bytes, sha256 };
      },
      async download(remote, local) {
        const { bytes, sha256 } = await share.download(remote, local);
        return { bytes, sha256 };
      },
      async ping() {
        await share.ping();
      },
      async uploadTree(local, remote) {
        await share.uploadDir(local, remote, treeOptions);
      },
      async downloadTree(remote, local) {
        await share.downloadDir(remote, local, treeOptions);
      },
      async syncTree(local, remote) {
        return (await share.sync(local, remote, { direction: 'up' })).transferred.length;
      },
      async close() {
        await share.close();
      },
    };
  }
}

runSystemWorker({ server: startServer, client });
