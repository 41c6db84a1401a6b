/**
 * Helpers for testing code that uses fileshare: a real server on 127.0.0.1 with a free port over
 * a fresh temporary folder, clients that are connected and logged in, and one call that tears
 * everything down. Import from `fileshare/testing`.
 *
 * @example
 * ```ts
 * import { createTestServer } from 'fileshare/testing';
 *
 * const t = await createTestServer({ users: { alice: 'secret' } });
 * try {
 *   const client = await t.connect('alice');
 *   await client.mkdir('/reports');
 *   assert.deepEqual((await client.list('/')).map((e) => e.name), ['reports']);
 * } finally {
 *   await t.close();
 * }
 * ```
 * @packageDocumentation
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// Imported by package name, not by relative path: the built `fileshare/testing` must share the
// classes of the main entry (one FileShareError, so `instanceof` works across both imports).
import {
  type AuthProvider,
  FileShareClient,
  type FileShareClientOptions,
  FileShareServer,
  type FileShareServerOptions,
  MemoryAuthProvider,
  type PlainUserEntry,
} from 'fileshare';

/** Options of {@link createTestServer}. */
export interface TestServerOptions {
  /**
   * Users and their plain-text passwords (or records with `password`, `home`, `permissions`...).
   * Hashed with the minimum bcrypt cost (10). Ignored when `auth` is given.
   * @default { alice: 'alice-password' }
   */
  users?: Record<string, PlainUserEntry>;
  /** Use this provider instead of `users`. */
  auth?: AuthProvider;
  /** Further server options (root, host and port are set for you unless given; a `root` folder given here is not removed by `close`). */
  server?: Partial<FileShareServerOptions>;
  /** Options for every client made by `connect` / `client`. */
  client?: FileShareClientOptions;
}

/** A running test server; see {@link createTestServer}. */
export interface TestServer {
  /** The server. */
  readonly server: FileShareServer;
  /** The folder it serves: `server.root` when given (kept), else a temporary folder (removed by `close`). */
  readonly root: string;
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** A connected client that is not logged in. */
  client(options?: FileShareClientOptions): Promise<FileShareClient>;
  /**
   * A connected client logged in as `username` (the first user by default), with the password
   * from `users` unless given.
   */
  connect(username?: string, password?: string): Promise<FileShareClient>;
  /** Close every client made here, the server, and remove the temporary folder. */
  close(): Promise<void>;
}

/** Start a server on 127.0.0.1 (free port) over a new temporary folder. */
export async function createTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const users = options.users ?? { alice: 'alice-password' };
  const auth = options.auth ?? (await MemoryAuthProvider.fromPasswords(users));
  // a root folder given in `server.root` is used as it is (and kept); otherwise a temp folder is made
  const givenRoot = typeof options.server?.root === 'string' ? options.server.root : undefined;
  const root = givenRoot ?? (await mkdtemp(path.join(os.tmpdir(), 'fileshare-test-')));
  const removeRoot = () => (givenRoot ? Promise.resolve() : rm(root, { recursive: true, force: true }));
  const server = new FileShareServer({ root, host: '127.0.0.1', port: 0, ...options.server, auth });
  const clients = new Set<FileShareClient>();
  let port: number;
  try {
    ({ port } = await server.listen());
  } catch (err) {
    await removeRoot();
    throw err;
  }

  const client = async (clientOptions?: FileShareClientOptions) => {
    const c = new FileShareClient({ ...options.client, ...clientOptions, host: '127.0.0.1', port });
    clients.add(c);
    await c.connect();
    return c;
  };

  return {
    server,
    root,
    port,
    client,
    async connect(username = Object.keys(users)[0] ?? 'alice', password?: string) {
      const entry = users[username];
      const plain = password ?? (typeof entry === 'string' ? entry : entry?.password) ?? '';
      const c = await client();
      await c.login(username, plain);
      return c;
    },
    async close() {
      await Promise.allSettled([...clients].map((c) => c.close()));
      await server.close();
      await removeRoot();
    },
  };
}
