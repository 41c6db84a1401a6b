/** The dispatch table, and how a command becomes a commander (sub)command for parsing. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.ts';
import { cd } from './cd.ts';
import { get, mget } from './get.ts';
import { help, helpLines } from './help.ts';
import { lcd } from './lcd.ts';
import { lls } from './lls.ts';
import { lpwd } from './lpwd.ts';
import { ls } from './ls.ts';
import { mkdir } from './mkdir.ts';
import { mv } from './mv.ts';
import { ping } from './ping.ts';
import { mput, put } from './put.ts';
import { pwd } from './pwd.ts';
import { quit } from './quit.ts';
import { rm } from './rm.ts';
import { rmdir } from './rmdir.ts';
import { stat } from './stat.ts';
import { sync } from './sync.ts';
import { type CommandSpec, usageOf } from './types.ts';

/** In the order `help` shows them. */
export const COMMANDS: readonly CommandSpec[] = [
  ls,
  cd,
  pwd,
  put,
  get,
  mput,
  mget,
  sync,
  rm,
  mkdir,
  rmdir,
  mv,
  stat,
  ping,
  lls,
  lcd,
  lpwd,
  help,
  quit,
];

/** The command called `name` or aliased so. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

/** Handler of a parsed command line. */
export type CommandAction = (spec: CommandSpec, args: string[], opts: Record<string, unknown>) => Promise<void>;

/** Add `spec` to `parent` as a subcommand whose action calls `action`. */
export function addCommand(parent: Command, spec: CommandSpec, action: CommandAction): Command {
  const cmd = parent
    .command(`${spec.name} ${spec.args}`.trim())
    .description(spec.summary)
    .aliases([...(spec.aliases ?? [])]);
  for (const o of spec.options ?? []) {
    const option = new Option(o.flags, o.description);
    if (o.parse) option.argParser(asCommanderParser(o.parse));
    if (o.defaultValue !== undefined) option.default(o.defaultValue);
    cmd.addOption(option);
  }
  cmd.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Command;
    await action(spec, self.args, self.opts());
  });
  return cmd;
}

/** commander reports a parser's InvalidArgumentError as a usage error: translate ours to it. */
function asCommanderParser(parse: (value: string) => unknown) {
  return (value: string) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}

/**
 * Parse one shell line's words with commander (same options and arity checks as script mode)
 * and run the command. Usage mistakes become a UsageError with the command's usage.
 */
export async function runWords(spec: CommandSpec, words: string[], action: CommandAction): Promise<void> {
  if (words.slice(1).some((w) => w === '-h' || w === '--help')) {
    for (const line of helpLines(spec)) process.stdout.write(`${line}\n`);
    return;
  }
  const program = new Command()
    .exitOverride()
    .helpCommand(false)
    .configureOutput({
      writeOut: (s) => void process.stdout.write(s),
      writeErr: (s) => void process.stderr.write(s),
      outputError: () => {}, // reported by the shell as one line
    });
  addCommand(program, spec, action).exitOverride();
  try {
    await program.parseAsync(words, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return;
    throw new UsageError(`${err.message.replace(/^error: /, '')} (usage: ${usageOf(spec)})`);
  }
}
