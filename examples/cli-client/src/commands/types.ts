/** The shape every command shares, so one implementation serves the shell and script mode. */
import type { FileShareClient } from 'fileshare';
import type { Io } from '../io.ts';

/** A logged-in connection. */
export interface Session {
  readonly client: FileShareClient;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly tls: boolean;
  /** close() was called: a 'close' event after it is expected, not a lost connection. */
  readonly closing: boolean;
  /** Log out (bounded in time) and close; safe to call twice. */
  close(): Promise<void>;
}

/** What a command may use. */
export interface CommandContext {
  readonly session: Session;
  readonly client: FileShareClient;
  /** Remote working folder: `/` in script mode, changed by `cd` in the shell. */
  readonly cwd: string;
  /** The previous remote cwd, for `cd -`. */
  readonly previousCwd: string;
  /** Change the remote cwd (shell only; the path is already resolved and checked). */
  chdir(remote: string): void;
  readonly io: Io;
  /** Aborted by Ctrl-C: pass it to every transfer and long wait. */
  readonly signal: AbortSignal;
  /** In the shell (true) or a one-shot script command (false). */
  readonly interactive: boolean;
  /** Every command, for `help`. */
  readonly commands: readonly CommandSpec[];
  /** Leave the shell after this command. */
  quit(): void;
}

/** How to complete the positional argument at some index. */
export type CompletionKind = 'remote' | 'remote-dir' | 'local' | 'local-dir' | 'command' | 'none';

export interface OptionSpec {
  /** commander flags, e.g. `-c, --count <n>`. */
  readonly flags: string;
  readonly description: string;
  /** Parse and validate a value; throw a UsageError when it is wrong. */
  readonly parse?: (value: string) => unknown;
  readonly defaultValue?: unknown;
}

export interface CommandSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  /** commander arguments, e.g. `<local> [remote]`. */
  readonly args: string;
  readonly summary: string;
  readonly options?: readonly OptionSpec[];
  /** Only meaningful in the shell (cd, lcd, help, quit...): not offered as a script subcommand. */
  readonly shellOnly?: boolean;
  /** Completion of each positional argument; the last kind repeats. */
  readonly complete?: readonly CompletionKind[];
  /** `args` are the positional arguments, `opts` commander's parsed options. */
  run(ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<void>;
}

/** Identity helper that checks a command literal against {@link CommandSpec}. */
export function defineCommand(spec: CommandSpec): CommandSpec {
  return spec;
}

/** `put [-r] [-f] <local> [remote]`, for help and usage errors. */
export function usageOf(spec: CommandSpec): string {
  const flags = (spec.options ?? []).map((o) => {
    const short = o.flags.split(/[ ,]+/)[0]!;
    const value = /<[^>]+>/.exec(o.flags)?.[0];
    return `[${short}${value ? ` ${value}` : ''}]`;
  });
  return [spec.name, ...flags, spec.args].filter(Boolean).join(' ');
}
