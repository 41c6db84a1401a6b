/**
 * The LAN server app (examples/server), run as a real process through scripts/run.mjs, as
 * `npm start` runs it: first start, user management on a running server, logs, graceful
 * shutdown, TLS with a pinned self-signed certificate, and one-line configuration errors.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FileShareClient, isFileShareError, listUsers, writeUsersFile } from '../../src/index.ts';
import { randomPassword } from '../../examples/server/src/first-run.ts';
import { clean, displayAddress, formatBytes, formatRate, parsePort, parseSeconds, parseSize } from '../../examples/server/src/format.ts';
import { parsePermissions } from '../../examples/server/src/users-command.ts';
import { fixtureHash } from '../auth-fixtures.ts';
import { type AppProcess, makeTempDir, removeDir, runApp, startServerApp, waitUntil } from './helpers/server-app.ts';

const test = suite('examples/server');

/** Everything a test started, stopped/removed after it whatever happened. */
let apps: AppProcess[] = [];
let clients: FileShareClient[] = [];
let dir = '';

test.before.each(async () => {
  dir = await makeTempDir('fileshare-server-app-');
});

test.after.each(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all(apps.map((a) => a.stop('SIGTERM', 5000)));
  await removeDir(dir);
  apps = [];
  clients = [];
});

async function start(args: string[] = []) {
  const app = await startServerApp({ cwd: dir, args });
  apps.push(app);
  return app;
}

async function connect(port: number, tls?: { fingerprint256: string }) {
  const client = new FileShareClient({ host: '127.0.0.1', port, tls, connectTimeout: 5000 });
  clients.push(client);
  await client.connect();
  return client;
}

async function loginError(port: number, username: string, password: string): Promise<string> {
  const client = await connect(port);
  try {
    await client.login(username, password);
    return 'logged in';
  } catch (err) {
    return isFileShareError(err) ? err.code : String(err);
  } finally {
    await client.close();
  }
}

/**
 * A users file with one user (all permissions), hashed at the fixtures' low bcrypt cost, for the
 * tests that need a login but are not about the first start, which hashes a new admin's password
 * at the full cost (and the server then checks it at that cost). Resolves to the password.
 */
async function usersFile(username = 'admin', password = `${username}-pw`): Promise<string> {
  await writeUsersFile(path.join(dir, 'users.json'), { [username]: { passwordHash: fixtureHash(password) } });
  return password;
}

/** Run a `user ...` command in the test folder. */
function user(args: string[], input?: string) {
  return runApp(['user', ...args], { cwd: dir, input });
}

const TS = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`;

test('first start creates users.json with admin, prints the password once, and it logs in', async () => {
  const app = await start();
  const password = (await app.waitFor(/admin password: (\S+)/))[1]!;
  assert.match(app.output(), /user passwd admin/, 'says how to change it');
  const users = await listUsers(path.join(dir, 'users.json'));
  assert.equal(
    users.map((u) => u.username),
    ['admin'],
  );
  assert.equal((await stat(path.join(dir, 'users.json'))).mode & 0o777, 0o600);
  assert.ok(existsSync(path.join(dir, 'server_data')), 'creates the root');
  assert.match(app.output(), /127\.0\.0\.1:\d+/);
  assert.not.match(app.output(), /not encrypted/, 'no plaintext note on loopback');

  const client = await connect(app.port);
  const me = await client.login('admin', password);
  assert.equal([...me.permissions].sort(), ['delete', 'read', 'write']);
  // UDP loss probes are on in the app, on the TCP port's number
  assert.match(app.output(), new RegExp(`probes  UDP ${app.port}, for packet loss`));
  const probed = await client.probe({ count: 3, intervalMs: 0, timeoutMs: 5000 });
  assert.ok(probed.available && probed.received === 3, JSON.stringify(probed));
  await app.waitFor(new RegExp(`^${TS} connection #1 from 127\\.0\\.0\\.1:\\d+$`, 'm'));
  await app.waitFor(new RegExp(`^${TS} login ok admin from 127\\.0\\.0\\.1 \\(#1\\)$`, 'm'));
  assert.is(await loginError(app.port, 'admin', 'wrong'), 'EAUTH');
  await app.waitFor(/login failed admin from 127\.0\.0\.1: EAUTH/);
});

test('--no-udp-probes: no probe port, and a client is told UDP is not offered', async () => {
  const password = await usersFile();
  const app = await start(['--no-udp-probes']);
  await app.waitFor(/listening on/);
  assert.match(app.output(), /^ {2}probes {2}off$/m);
  const client = await connect(app.port);
  await client.login('admin', password);
  assert.is(client.udpProbesOffered, false);
  const udp = await client.probe({ count: 1 });
  assert.is(udp.available, false);
});

test('user add (stdin) on a running server: bob logs in without a restart; list, passwd, remove', async () => {
  const app = await start();
  const reloaded = async (from: number) => app.waitFor(/users reloaded/, { from });

  const short = await user(['add', 'carol'], 'short\n');
  assert.is.not(short.code, 0);
  assert.match(short.stderr, /at least 8 characters/);

  let mark = app.output().length;
  const added = await user(['add', 'bob', '--home', 'bob', '--permissions', 'read,write'], 'bob-pw-1\n');
  assert.is(added.code, 0, added.stderr);
  assert.match(added.stdout, /added user bob/);
  await reloaded(mark);
  const bob = await connect(app.port);
  assert.equal([...(await bob.login('bob', 'bob-pw-1')).permissions], ['read', 'write']);
  await app.waitFor(/login ok bob from 127\.0\.0\.1/);
  await bob.close();

  const listed = await user(['list']);
  assert.is(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^name\s+home\s+permissions$/m);
  assert.match(listed.stdout, /^admin\s+\/\s+read,write,delete$/m);
  assert.match(listed.stdout, /^bob\s+\/bob\s+read,write$/m);

  mark = app.output().length;
  const changed = await user(['passwd', 'bob'], 'bob-pw-2\n');
  assert.is(changed.code, 0, changed.stderr);
  await reloaded(mark);
  assert.is(await loginError(app.port, 'bob', 'bob-pw-1'), 'EAUTH');
  assert.is(await loginError(app.port, 'bob', 'bob-pw-2'), 'logged in');

  mark = app.output().length;
  const removed = await user(['remove', 'bob']);
  assert.is(removed.code, 0, removed.stderr);
  await reloaded(mark);
  assert.is(await loginError(app.port, 'bob', 'bob-pw-2'), 'EAUTH');
  assert.equal(
    (await listUsers(path.join(dir, 'users.json'))).map((u) => u.username),
    ['admin'],
  );
});

test('transfers and file changes are logged with size and MB/s', async () => {
  const password = await usersFile();
  const app = await start();
  const client = await connect(app.port);
  await client.login('admin', password);
  const data = Buffer.alloc(3_000_000, 7);
  await client.upload(Readable.from([data]), '/big.bin');
  await app.waitFor(/upload admin \/big\.bin 3\.00 MB in \d+(?:\.\d+)? (?:ms|s), \d+(?:\.\d+)? MB\/s \(#1\)/);
  await client.mkdir('/docs');
  await client.rename('/big.bin', '/docs/big.bin');
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await client.download('/docs/big.bin', sink);
  await client.delete('/docs/big.bin');
  await client.rmdir('/docs');
  await client.stat('/no-such-file').catch(() => undefined); // an expected miss: not logged
  await client.stat('/docs/missing').catch(() => undefined);
  const lines = [
    /mkdir admin \/docs/,
    /rename admin \/big\.bin -> \/docs\/big\.bin/,
    /download admin \/docs\/big\.bin 3\.00 MB .* MB\/s/,
    /delete admin \/docs\/big\.bin/,
    /rmdir admin \/docs/,
  ];
  for (const line of lines) {
    await app.waitFor(line);
  }
  await client.close();
  await app.waitFor(/disconnect #1 admin from 127\.0\.0\.1/);
  assert.not.match(app.output(), /request failed stat/);
});

test('SIGTERM during uploads: a finishing upload completes, a stalled one is discarded, exit 0', async () => {
  const password = await usersFile();
  const app = await start(['--close-timeout', '2']);
  const client = await connect(app.port);
  await client.login('admin', password);
  const root = path.join(dir, 'server_data');
  const finishing = new PassThrough();
  const stalled = new PassThrough();
  const done = client.upload(finishing, '/done.bin').then(
    (r) => r.bytes,
    (err: Error) => err,
  );
  const cut = client.upload(stalled, '/partial.bin').then(
    () => 'completed',
    (err: Error) => err,
  );
  finishing.write(Buffer.alloc(500_000, 1));
  stalled.write(Buffer.alloc(500_000, 2));
  await waitUntil(async () => (await readdir(root)).filter((n) => n.startsWith('.fileshare-part-')).length === 2, 'both uploads to start');

  const mark = app.output().length;
  process.kill(app.child.pid!, 'SIGTERM');
  await app.waitFor(/shutting down/, { from: mark });
  finishing.end(Buffer.alloc(500_000, 1));
  const exit = await app.waitForExit();
  assert.equal(exit, { code: 0, signal: null }, app.output());
  assert.match(app.output(), /stopped/);

  assert.is(await done, 1_000_000);
  assert.instance(await cut, Error);
  assert.equal((await readdir(root)).sort(), ['done.bin'], 'no partial file, no temporary file');
  assert.is((await stat(path.join(root, 'done.bin'))).size, 1_000_000);
});

test('cert: key (0600) and certificate, fingerprint printed; a client pinning it connects over TLS', async () => {
  const made = await runApp(['cert', '--out', 'tls'], { cwd: dir });
  assert.is(made.code, 0, made.stderr);
  const fingerprint = made.stdout.match(/SHA-256 fingerprint: ([0-9A-F:]{95})/)?.[1];
  assert.ok(fingerprint, made.stdout);
  const certPem = await readFile(path.join(dir, 'tls', 'cert.pem'));
  const x509 = new X509Certificate(certPem);
  assert.is(x509.fingerprint256, fingerprint);
  assert.match(x509.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(x509.subjectAltName ?? '', /DNS:localhost/);
  assert.is((await stat(path.join(dir, 'tls', 'key.pem'))).mode & 0o777, 0o600);

  // an existing users file is used as it is: no admin, no password printed
  await usersFile('alice', 'alice-pw');
  const [refused, app] = await Promise.all([
    runApp(['cert', '--out', 'tls'], { cwd: dir }),
    start(['--tls-key', 'tls/key.pem', '--tls-cert', 'tls/cert.pem']),
  ]);
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /already exists.*--force/);
  assert.ok(app.output().includes(`SHA-256 fingerprint ${fingerprint}`), 'prints the fingerprint at start');
  assert.not.match(app.output(), /admin/);

  const client = await connect(app.port, { fingerprint256: fingerprint! });
  await client.login('alice', 'alice-pw');
  await app.waitFor(/connection #1 from 127\.0\.0\.1:\d+ \(TLS\)/);
  await app.waitFor(/login ok alice from 127\.0\.0\.1/);

  const otherPin = `${fingerprint!.startsWith('00') ? '11' : '00'}${fingerprint!.slice(2)}`;
  const wrongPin = new FileShareClient({ host: '127.0.0.1', port: app.port, tls: { fingerprint256: otherPin } });
  clients.push(wrongPin);
  const err = await wrongPin.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isFileShareError(err) && err.code === 'ETLS', String(err));
});

/** A failed start: non-zero exit, exactly one line on stderr, no stack trace. */
function assertOneLineError(result: { code: number | null; stderr: string }, pattern: RegExp) {
  assert.ok(result.code !== 0 && result.code !== null, `exit code ${result.code}`);
  const lines = result.stderr.trim().split('\n');
  assert.is(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
  assert.not.match(result.stderr, /\n\s+at /);
}

test('configuration errors (port in use, bad flags, broken users file): one line, non-zero exit', async () => {
  // a users file, so that the app does not make a first admin (a bcrypt hash at the full cost)
  // before it finds the port taken
  await usersFile();
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const brokenDir = path.join(dir, 'broken');
  await mkdir(brokenDir);
  await writeFile(path.join(brokenDir, 'users.json'), '{ "users": ');
  try {
    const port = (blocker.address() as net.AddressInfo).port;
    const [inUse, badFlag, broken] = await Promise.all([
      runApp(['--host', '127.0.0.1', '--port', String(port)], { cwd: dir }),
      runApp(['--max-file-size', '10Q'], { cwd: dir }),
      runApp(['--host', '127.0.0.1', '--port', '0'], { cwd: brokenDir }),
    ]);
    assertOneLineError(inUse, new RegExp(`port ${port} is already in use`));
    assertOneLineError(badFlag, /--max-file-size.*10Q/);
    assertOneLineError(broken, /users file.*users\.json.*invalid JSON/);
  } finally {
    blocker.close();
  }
});

/** Commander's InvalidArgumentError, which it prints as one line naming the flag. */
const invalid = (err: Error) => (err as Error & { code?: string }).code === 'commander.invalidArgument';

test('flag parsers and formatting (in process)', () => {
  assert.is(parseSize('10G'), 10_000_000_000);
  assert.is(parseSize('2GiB'), 2 * 2 ** 30);
  assert.is(parseSize('1.5 MB'), 1_500_000);
  assert.is(parseSize('4096'), 4096);
  for (const bad of ['10Q', '', '-1G', 'G']) assert.throws(() => parseSize(bad), invalid, bad);
  assert.is(parsePort('0'), 0);
  for (const bad of ['http', '65536', '-1', '1.5']) assert.throws(() => parsePort(bad), invalid, bad);
  assert.is(parseSeconds('2.5'), 2.5);
  assert.throws(() => parseSeconds('0'), invalid);
  assert.equal(parsePermissions('read, write,read'), ['read', 'write']);
  assert.throws(() => parsePermissions('read,fly'), invalid);
  assert.is(formatBytes(532), '532 B');
  assert.is(formatBytes(12_345_678), '12.3 MB');
  assert.is(formatBytes(1_500_000_000), '1.50 GB');
  assert.is(formatRate(11.74), '11.7 MB/s');
  assert.is(clean('bob\n2025-01-01 login ok admin'), 'bob\\x0a2025-01-01 login ok admin');
  assert.is(displayAddress('::ffff:192.168.1.20'), '192.168.1.20');
  assert.match(randomPassword(), /^[0-9a-z]{4}(-[0-9a-z]{4}){3}$/);
});

test.run();
