#!/usr/bin/env node
/**
 * fileshare-client: `fileshare-client [options]` opens the interactive shell;
 * `fileshare-client [options] <command> [args]` runs one command for scripts and exits with a
 * code that says what went wrong (see errors.ts and the README).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { VERSION } from 'fileshare';
import { COMMANDS, addCommand } from './commands/index.ts';
import type { CommandContext, CommandSpec, Session } from './commands/types.ts';
import { type ConnectSettings, connect } from './connect.ts';
import { ExitCode, describeError, localError } from './errors.ts';
import type { LineSource } from './shell.ts';
import { Input } from './input.ts';
import { type Io, createIo, flushOutput } from './io.ts';
import { defaultKnownHostsPath } from './paths.ts';

const NAME = 'fileshare-client';

interface GlobalOptions {
  host: string;
  port: number;
  user?: string;
  tls?: boolean;
  fingerprint?: string;
  knownHosts: string;
  acceptNew?: boolean;
  timeout?: number;
  quiet?: boolean;
  batch?: string;
}

function integer(name: string, min: number, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
    return n;
  };
}

function settingsOf(o: GlobalOptions): ConnectSettings {
  return {
    host: o.host,
    port: o.port,
    ...(o.user ? { user: o.user } : {}),
    tls: o.tls === true,
    ...(o.fingerprint ? { fingerprint: o.fingerprint } : {}),
    knownHosts: o.knownHosts,
    acceptNew: o.acceptNew === true,
    ...(o.timeout ? { timeoutMs: o.timeout } : {}),
  };
}

/** The lines of a batch file, read once (batch files are small). */
async function fileLines(file: string): Promise<LineSource> {
  const { readFile } = await import('node:fs/promises');
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  let next = 0;
  return { nextLine: async () => lines[next++] };
}

/** Print the one-line failure and return its exit code. */
function report(io: Io, err: unknown, command?: string): ExitCode {
  const { message, exitCode } = describeError(err);
  io.err(`${NAME}: ${command ? `${command}: ` : ''}${message}`);
  return exitCode;
}

/** No subcommand: connect, log in, run the shell. */
async function interactive(o: GlobalOptions): Promise<ExitCode> {
  const io = createIo({ quiet: o.quiet === true });
  const input = new Input();
  let session: Session | undefined;
  // a batch file is opened before connecting: a missing one is a usage error, not a login
  let batchLines: LineSource | undefined;
  if (o.batch !== undefined && o.batch !== '-') {
    try {
      batchLines = await fileLines(o.batch);
    } catch (err) {
      return report(io, localError(err, o.batch));
    }
  }
  // until the shell takes over Ctrl-C, it simply ends the program: there is nothing to clean up
  const onSignal = () => process.exit(ExitCode.INTERRUPTED);
  process.on('SIGINT', onSignal);
  try {
    session = await connect(settingsOf(o), io, input);
    process.off('SIGINT', onSignal);
    const { runShell } = await import('./shell.ts'); // with completion and history: not needed by scripts
    if (o.batch === undefined) return await runShell(session, io, input);
    return await runShell(session, io, input, { batch: true, ...(o.batch === '-' ? {} : { lines: batchLines }) });
  } catch (err) {
    return report(io, err);
  } finally {
    process.off('SIGINT', onSignal);
    input.close();
    await session?.close();
  }
}

/** One command for a script. Ctrl-C cancels it (the library removes partial files) and exits 130. */
async function oneShot(spec: CommandSpec, args: string[], opts: Record<string, unknown>, o: GlobalOptions): Promise<ExitCode> {
  const io = createIo({ quiet: o.quiet === true });
  const input = new Input();
  const controller = new AbortController();
  let session: Session | undefined;
  const onSignal = () => {
    if (!session) process.exit(ExitCode.INTERRUPTED); // still connecting: nothing to clean up
    controller.abort();
    // the transfer settles once the server confirmed the cancel; never wait forever for it
    setTimeout(() => process.exit(ExitCode.INTERRUPTED), 3000).unref();
  };
  process.on('SIGINT', onSignal);
  try {
    session = await connect(settingsOf(o), io, input);
    const ctx: CommandContext = {
      session,
      client: session.client,
      cwd: '/',
      previousCwd: '/',
      chdir: () => {},
      io,
      signal: controller.signal,
      interactive: false,
      commands: COMMANDS,
      quit: () => {},
    };
    await spec.run(ctx, args, opts);
    // a command that ends early on Ctrl-C without failing (ping -c) still reports the interruption
    return controller.signal.aborted ? ExitCode.INTERRUPTED : ExitCode.OK;
  } catch (err) {
    return report(io, err, spec.name);
  } finally {
    process.off('SIGINT', onSignal);
    input.close();
    await session?.close();
  }
}

function buildProgram(setExit: (code: ExitCode) => void): Command {
  const program = new Command(NAME)
    .description('Interactive and scriptable client of a fileshare server.\nWithout a command, opens an interactive shell.')
    .version(VERSION, '-V, --version')
    // `[options] <command> [args]`: an option after the command is the command's (ping -u is UDP, not --user)
    .enablePositionalOptions()
    .addOption(new Option('--host <host>', 'server host name or address').env('FILESHARE_HOST').default('127.0.0.1'))
    .addOption(
      new Option('-p, --port <port>', 'server port')
        .env('FILESHARE_PORT')
        .default(4450)
        .argParser(integer('--port', 1, 65535)),
    )
    .addOption(new Option('-u, --user <name>', 'user name (asked for when missing)').env('FILESHARE_USER'))
    .option('--tls', 'connect over TLS, trusting the certificate on first use (known_hosts)')
    .addOption(new Option('--fingerprint <sha256>', "pin the server certificate's SHA-256 fingerprint (implies --tls)"))
    .addOption(
      new Option('--known-hosts <file>', 'trusted certificate fingerprints')
        .env('FILESHARE_KNOWN_HOSTS')
        .default(defaultKnownHostsPath(), '~/.fileshare/known_hosts'),
    )
    .option('--accept-new', 'trust and remember an unknown TLS server without asking (scripts)')
    .addOption(new Option('--timeout <ms>', 'connect and request timeout, ms').argParser(integer('--timeout', 1, 3_600_000)))
    .option('-q, --quiet', 'no progress bars and no transfer summaries')
    .addOption(
      new Option(
        '-b, --batch <file>',
        "run the commands in <file> ('-': stdin), stopping at the first failure; a line starting with '-' may fail",
      ),
    )
    .option('--no-color', 'plain output (NO_COLOR works too)')
    .addHelpText(
      'after',
      '\nThe password comes from FILESHARE_PASSWORD, else a hidden prompt (terminal) or the first line of stdin.\nExit codes: 0 ok, 1 error, 2 usage, 3 auth, 4 not found, 5 exists/permission, 6 connection, 130 cancelled.',
    )
    .showHelpAfterError(`(run ${NAME} --help for usage)`)
    .exitOverride()
    // connection options go before the command: after it, `-p` is `put -p` (keep times), not the port
    .enablePositionalOptions()
    .configureOutput({ outputError: (text, write) => write(`${NAME}: ${text.replace(/^error: /, '')}`) })
    .allowExcessArguments(true)
    .action(async () => {
      const [unknown] = program.args;
      if (unknown !== undefined)
        program.error(`unknown command '${unknown}'`, { exitCode: ExitCode.USAGE, code: 'commander.unknownCommand' });
      setExit(await interactive(program.opts<GlobalOptions>()));
    });
  for (const spec of COMMANDS.filter((c) => !c.shellOnly)) {
    addCommand(program, spec, async (s, args, opts) => setExit(await oneShot(s, args, opts, program.opts<GlobalOptions>())))
      .exitOverride()
      .showHelpAfterError(`(run ${NAME} ${spec.name} --help for usage)`);
  }
  return program;
}

async function main(argv: string[]): Promise<ExitCode> {
  // `npm run client` runs us from the repository root; local paths start where it was typed
  if (process.env.npm_lifecycle_event === 'client' && process.env.INIT_CWD) {
    try {
      process.chdir(process.env.INIT_CWD);
    } catch {
      /* the folder is gone: stay where npm put us */
    }
  }
  let code: ExitCode = ExitCode.OK;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // --help and --version exit 0; every parse error is a usage error
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  return code;
}

const code = await main(process.argv).catch((err: unknown) => report(createIo(), err));
await flushOutput();
process.exit(code);
