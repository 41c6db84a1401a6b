/**
 * The interactive shell: a prompt showing user, host and remote folder; one command per line,
 * run one at a time; errors print one line and the shell goes on. On a terminal: tab completion,
 * persistent history, Ctrl-C cancels the running transfer (or clears the line), Ctrl-D leaves.
 * With piped stdin it reads line by line and echoes each command after the prompt, like `sftp -b`.
 */
import { COMMANDS, findCommand, runWords } from './commands/index.ts';
import type { CommandContext, Session } from './commands/types.ts';
import { ListingCache, createCompleter } from './completion.ts';
import { ExitCode, describeError } from './errors.ts';
import { HISTORY_SIZE, historyPath, loadHistory, saveHistory } from './history.ts';
import type { Input } from './input.ts';
import type { Io } from './io.ts';
import { tokenize } from './tokenize.ts';

/** Where a batch's command lines come from (`-b FILE`); stdin otherwise. */
export interface LineSource {
  nextLine(): Promise<string | undefined>;
}

/**
 * Options of {@link runShell}. In batch mode (`-b`, or stdin not a terminal) the first failing
 * command stops the run and its exit code is the program's, unless the line starts with `-`.
 */
export interface ShellOptions {
  /** Read commands from here instead of stdin (`-b FILE`). */
  readonly lines?: LineSource;
  /** Stop at the first failure (`-b`; always when stdin is not a terminal). */
  readonly batch?: boolean;
}

export async function runShell(session: Session, io: Io, input: Input, options: ShellOptions = {}): Promise<ExitCode> {
  const batch = options.batch === true || !input.tty;
  const source: LineSource = options.lines ?? input;
  const { client } = session;
  const state = {
    cwd: '/',
    previousCwd: '/',
    running: undefined as AbortController | undefined,
    quitting: false,
    exitCode: ExitCode.OK as ExitCode,
  };
  const cache = new ListingCache(client);
  const historyFile = historyPath();
  const rl = input.open(
    input.tty ? { completer: createCompleter(cache, () => state.cwd), history: loadHistory(historyFile), historySize: HISTORY_SIZE } : {},
  );
  if (input.tty) rl.on('history', (history: string[]) => void saveHistory(historyFile, history));

  const leave = (code: ExitCode) => {
    state.quitting = true;
    state.exitCode = code;
    rl.close(); // ends the line loop, even while it waits at the prompt
  };

  // Ctrl-C on a terminal (readline has the terminal in raw mode, so it arrives here, not as a signal)
  rl.on('SIGINT', () => {
    if (state.running) return state.running.abort();
    const typed = rl.line.length > 0;
    // like a shell: keep what was typed on screen, drop it from the line, start a fresh prompt.
    // clearLine() is what node's own REPL uses for this (it is not in the typings)
    const clearLine = (rl as unknown as { clearLine?: () => void }).clearLine;
    if (typeof clearLine === 'function') clearLine.call(rl);
    else process.stdout.write('\n');
    if (!typed) io.err(io.errColor.dim("(type 'quit' or press Ctrl-D to leave)"));
    rl.prompt();
  });
  // a real SIGINT (piped stdin, or sent by another process): cancel the transfer, else leave
  const onSignal = () => (state.running ? state.running.abort() : leave(ExitCode.INTERRUPTED));
  process.on('SIGINT', onSignal);

  const onClose = (error: Error | undefined) => {
    if (session.closing) return;
    const why = error ? ` (${error.message.replace(/^connection lost: /, '')})` : '';
    io.err(io.errColor.red(`connection to ${session.host}:${session.port} lost${why}; leaving the shell`));
    // a running command fails with ECLOSED and the loop stops after it; at the prompt, stop now
    if (!state.running) leave(ExitCode.CONNECTION);
    else state.exitCode = ExitCode.CONNECTION;
  };
  client.on('close', onClose);
  client.on('goaway', ({ message }) => io.err(io.errColor.yellow(`server going away: ${message}`)));

  const ctx = (signal: AbortSignal): CommandContext => ({
    session,
    client,
    get cwd() {
      return state.cwd;
    },
    get previousCwd() {
      return state.previousCwd;
    },
    chdir(remote) {
      state.previousCwd = state.cwd;
      state.cwd = remote;
    },
    io,
    signal,
    interactive: true,
    commands: COMMANDS,
    quit: () => {
      state.quitting = true;
    },
  });

  const prompt = () => {
    const { color } = io;
    return `${color.green(`${session.username}@${session.host}`)}:${color.blue(state.cwd)}> `;
  };

  io.out(
    `Connected to ${session.host}:${session.port}${session.tls ? ' over TLS' : ''} as ${session.username}. Type 'help' for the commands.`,
  );
  try {
    while (!state.quitting) {
      rl.setPrompt(prompt());
      rl.prompt();
      const line = await source.nextLine();
      if (line === undefined) {
        if (!state.quitting) process.stdout.write('\n'); // Ctrl-D / end of input: leave on a fresh line
        break;
      }
      if (!input.tty || options.lines) process.stdout.write(`${line}\n`);
      // as in `sftp -b`: a leading '-' lets the batch go on when that command fails
      const tolerant = /^\s*-/.test(line);
      const failed = await execute(tolerant ? line.replace(/^\s*-/, '') : line);
      if (state.exitCode === ExitCode.CONNECTION || !client.connected) {
        state.exitCode = ExitCode.CONNECTION;
        break;
      }
      if (failed !== undefined && batch && !tolerant) {
        state.exitCode = failed;
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    client.off('close', onClose);
    rl.close();
  }
  return state.exitCode;

  /** Run one line; resolves to the exit code of its failure, or undefined when it succeeded. */
  async function execute(line: string): Promise<ExitCode | undefined> {
    const tokens = tokenize(line);
    const [name, ...rest] = tokens.words;
    if (name === undefined || name.startsWith('#')) return undefined;
    if (tokens.openQuote) {
      io.err(`${name}: unterminated quote`);
      return ExitCode.USAGE;
    }
    const spec = findCommand(name);
    if (!spec) {
      io.err(io.errColor.red(`${name}: unknown command (type 'help' for the list)`));
      return ExitCode.USAGE;
    }
    const controller = new AbortController();
    state.running = controller;
    try {
      await runWords(spec, [name, ...rest], (s, args, opts) => s.run(ctx(controller.signal), args, opts));
      return controller.signal.aborted ? ExitCode.INTERRUPTED : undefined;
    } catch (err) {
      const { message, exitCode } = describeError(err);
      io.err(io.errColor.red(`${spec.name}: ${message}`));
      return exitCode;
    } finally {
      state.running = undefined;
      cache.clear();
    }
  }
}
