/**
 * Everything read from stdin. On a terminal: questions on a short-lived readline, the password
 * through @inquirer/password (hidden), then the shell's own readline with completion and history.
 * Not on a terminal (a pipe or a file): ONE line reader for the whole run, so the username and
 * password lines and the shell commands that follow them are read in order and none is lost.
 */
import readline from 'node:readline';
import { createInterface as createPromiseInterface } from 'node:readline/promises';
import { CliError, ExitCode } from './errors.ts';

export interface ShellReadlineOptions {
  completer?: readline.AsyncCompleter;
  history?: string[];
  historySize?: number;
}

export class Input {
  /** stdin is a terminal: prompts are interactive. */
  readonly tty = process.stdin.isTTY === true;
  private rl: readline.Interface | undefined;
  private lines: AsyncIterator<string> | undefined;

  /** The line reader of the session (created once; the options only apply on a terminal). */
  open(options: ShellReadlineOptions = {}): readline.Interface {
    if (this.rl) return this.rl;
    const rl = readline.createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: this.tty,
      ...(options.completer ? { completer: options.completer } : {}),
      ...(options.history ? { history: options.history } : {}),
      historySize: options.historySize ?? 1000,
      removeHistoryDuplicates: true,
    });
    this.rl = rl;
    this.lines = rl[Symbol.asyncIterator]();
    return rl;
  }

  /** The next line, or undefined at the end of the input (Ctrl-D). */
  async nextLine(): Promise<string | undefined> {
    this.open();
    const next = await this.lines!.next();
    return next.done ? undefined : next.value;
  }

  /** Ask a question: on a terminal with `query` shown (on stderr), else read the next line. */
  async question(query: string): Promise<string | undefined> {
    if (!this.tty) return this.nextLine();
    const rl = createPromiseInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const cancel = new AbortController();
    rl.on('SIGINT', () => cancel.abort());
    try {
      return await rl.question(query, { signal: cancel.signal });
    } catch {
      throw new CliError('cancelled', ExitCode.INTERRUPTED);
    } finally {
      rl.close();
    }
  }

  /** A secret: hidden on a terminal, else the next line. */
  async secret(message: string): Promise<string | undefined> {
    if (!this.tty) return this.nextLine();
    const { default: password } = await import('@inquirer/password'); // loaded only when needed
    return password({ message }, { output: process.stderr });
  }

  /** Ask yes/no; only "y"/"yes" counts as yes. */
  async confirm(query: string): Promise<boolean> {
    const answer = await this.question(query);
    return /^y(es)?$/i.test((answer ?? '').trim());
  }

  close(): void {
    this.rl?.close();
  }
}
