/**
 * fileshare-server: the LAN file server. `npm start` serves ./server_data to the users in
 * ./users.json on 0.0.0.0:4450; `npm start -- --help` lists the flags, `user` and `cert` commands.
 */
import { Command, Option } from 'commander';
import { ALL_PERMISSIONS, DEFAULT_PERMISSIONS, VERSION } from 'fileshare';
import pc from 'picocolors';
import { exitWithError } from './errors.ts';
import { parsePort, parsePositiveInteger, parseSeconds, parseSize } from './format.ts';
import type { CertOptions } from './cert.ts';
import { serve, type ServeOptions } from './serve.ts';
import { parsePermissions, type UserAddOptions, userAdd, userList, userPasswd, userRemove } from './users-command.ts';

/** `--database`: the user commands then edit the users table of PostgreSQL (several nodes) instead of the file. */
const databaseOption = () =>
  flag(
    '--database <url>',
    'edit the users table of this PostgreSQL database (postgres://...) instead of the users file',
    'FILESHARE_DATABASE_URL',
  );
const db = () => import('./db-users-command.ts');

const DEFAULT_USERS = './users.json';

/** An option of the server with its environment variable (shown by --help, like the default). */
function flag<T>(flags: string, description: string, env: string, defaultValue?: T, parse?: (value: string) => T): Option {
  const option = new Option(flags, description).env(env);
  if (defaultValue !== undefined) option.default(defaultValue);
  return parse ? option.argParser(parse) : option;
}

/** `--users`, shared by the server and every `user` subcommand. */
const usersOption = () =>
  flag(
    '-u, --users <file>',
    'the users file (JSON, bcrypt hashes; created with an admin on first start)',
    'FILESHARE_USERS',
    DEFAULT_USERS,
  );

/** Commander's error text as one line: our prefix, and its "(Did you mean ...?)" hint joined in. */
const oneLine = (text: string) =>
  `${text
    .trim()
    .replace(/^error:/, pc.red('fileshare-server: error:'))
    .replace(/\s*\n\s*\(Did you mean (.*)\)$/, ' (did you mean $1)')}\n`;

/** A boolean from the environment: 1/true/yes/on. */
const envFlag = (name: string) => /^(1|true|yes|on)$/i.test(process.env[name] ?? '');

const program = new Command('fileshare-server')
  .description('Share a folder on the local network with authenticated users (fileshare protocol over TCP or TLS).')
  .version(VERSION, '-V, --version')
  .enablePositionalOptions() // `user add bob --users x.json` reaches the subcommand's --users
  .showSuggestionAfterError()
  // commander's own errors (bad flag values, unknown options) look like ours: one line on stderr
  .configureOutput({ outputError: (text, write) => write(oneLine(text)) })
  .addOption(
    flag(
      '-H, --host <address>',
      'address to listen on (:: for IPv4 and IPv6, 127.0.0.1 for this machine only)',
      'FILESHARE_HOST',
      '0.0.0.0',
    ),
  )
  .addOption(flag('-p, --port <number>', 'TCP port; 0 picks a free one', 'FILESHARE_PORT', 4450, parsePort))
  .addOption(flag('-r, --root <dir>', 'the folder to share (created if missing)', 'FILESHARE_ROOT', './server_data'))
  .addOption(usersOption())
  .addOption(flag('--tls-key <file>', 'TLS private key (PEM), with --tls-cert; see the cert command', 'FILESHARE_TLS_KEY'))
  .addOption(flag('--tls-cert <file>', 'TLS certificate (PEM); clients pin its SHA-256 fingerprint', 'FILESHARE_TLS_CERT'))
  .addOption(flag('--max-connections <n>', 'most simultaneous connections', 'FILESHARE_MAX_CONNECTIONS', 256, parsePositiveInteger))
  .addOption(flag('--idle-timeout <seconds>', 'disconnect clients idle for this long', 'FILESHARE_IDLE_TIMEOUT', 300, parseSeconds))
  .addOption(
    flag('--close-timeout <seconds>', 'on shutdown, how long transfers in flight may finish', 'FILESHARE_CLOSE_TIMEOUT', 10, parseSeconds),
  )
  .addOption(
    flag(
      '--max-file-size <size>',
      'largest upload, e.g. 500M, 10G (1G = 10^9 bytes; 2GiB also works) (default: unlimited)',
      'FILESHARE_MAX_FILE_SIZE',
      undefined,
      parseSize,
    ),
  )
  // not .env(): commander would turn on a boolean for any value, FILESHARE_FSYNC=0 included
  .addOption(
    new Option('--fsync', 'flush each upload to disk before it appears (safer on power loss, slower) (env: FILESHARE_FSYNC=1)').default(
      envFlag('FILESHARE_FSYNC'),
    ),
  )
  .addOption(
    new Option(
      '--no-udp-probes',
      "don't answer UDP probes on the port's number (clients then measure no packet loss) (env: FILESHARE_UDP_PROBES=0)",
    ).default(!/^(0|false|no|off)$/i.test(process.env.FILESHARE_UDP_PROBES ?? '')),
  )
  .option('--no-color', 'no colours in the output (also NO_COLOR=1)')
  .action((opts: ServeOptions) => serve(opts, { users: DEFAULT_USERS }))
  .addHelpText(
    'after',
    `
Commands run against the same users file (./users.json or FILESHARE_USERS):
  npm start -- user add bob --home bob --permissions read,write
  echo 's3cret' | npm start -- user add carol        (password from stdin, for scripts)
  npm start -- user add bob --database postgres://... (the users table of several nodes: docs/scaling.md)
  npm start -- cert --out ./tls                       (self-signed certificate for TLS)`,
  );

program
  .command('cert')
  .description('generate a self-signed TLS certificate for this machine (its names and LAN addresses) and print its SHA-256 fingerprint')
  .option('-o, --out <dir>', 'folder for key.pem and cert.pem', './tls')
  .option('--days <n>', 'validity in days', parsePositiveInteger, 825)
  .option('-f, --force', 'replace existing key.pem / cert.pem', false)
  // loaded on demand: selfsigned takes a while to load, and only this command needs it
  .action(async (o: CertOptions) => (await import('./cert.ts')).certCommand(o));

const user = program.command('user').description('manage the users file: add, remove, passwd, list');
user
  .command('add <name>')
  .description('add a user; the password is asked twice (hidden), or read as one line from stdin when piped')
  .option('--home <dir>', 'home folder under the root; the user sees only it (default: the whole root)')
  .option(
    '--permissions <list>',
    `comma-separated, from ${ALL_PERMISSIONS.join(', ')} (default: ${DEFAULT_PERMISSIONS.join(',')})`,
    parsePermissions,
  )
  .option('--quota <size>', 'storage quota of the home folder, e.g. 50G (default: none)', parseSize)
  .option('--max-file-size <size>', 'largest file this user may upload, e.g. 2G (default: the server limit)', parseSize)
  .addOption(usersOption())
  .addOption(databaseOption())
  .action(async (name: string, o: UserAddOptions & { users: string; database?: string }) =>
    o.database ? (await db()).dbUserAdd(o.database, name, o) : userAdd(o.users, name, o),
  );
user
  .command('remove <name>')
  .alias('rm')
  .description('remove a user')
  .addOption(usersOption())
  .addOption(databaseOption())
  .action(async (name: string, o: { users: string; database?: string }) =>
    o.database ? (await db()).dbUserRemove(o.database, name) : userRemove(o.users, name),
  );
user
  .command('passwd <name>')
  .description("change a user's password (asked twice, or one line from stdin)")
  .addOption(usersOption())
  .addOption(databaseOption())
  .action(async (name: string, o: { users: string; database?: string }) =>
    o.database ? (await db()).dbUserPasswd(o.database, name) : userPasswd(o.users, name),
  );
user
  .command('list')
  .alias('ls')
  .description('list the users: name, home, permissions')
  .addOption(usersOption())
  .addOption(databaseOption())
  .action(async (o: { users: string; database?: string }) => (o.database ? (await db()).dbUserList(o.database) : userList(o.users)));

try {
  await program.parseAsync();
} catch (err) {
  exitWithError(err);
}
