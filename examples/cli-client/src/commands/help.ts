/** help: the command table, or the details of one command. */
import { CliError, ExitCode } from '../errors.ts';
import { type CommandSpec, defineCommand, usageOf } from './types.ts';

export const help = defineCommand({
  name: 'help',
  aliases: ['?'],
  args: '[command]',
  summary: 'list the commands, or explain one',
  shellOnly: true,
  complete: ['command'],
  async run(ctx, [name]) {
    const { io, commands } = ctx;
    if (name !== undefined) {
      const spec = commands.find((c) => c.name === name || c.aliases?.includes(name));
      if (!spec) throw new CliError(`no such command: ${name}`, ExitCode.USAGE);
      for (const line of helpLines(spec)) io.out(line);
      return;
    }
    const rows = commands.map((c) => [`${c.name} ${c.args}`.trim(), c.summary, c.aliases ?? []] as const);
    const width = Math.max(...rows.map(([u]) => u.length));
    for (const [use, summary, aliases] of rows) {
      const also = aliases.length ? io.color.dim(` (also ${aliases.join(', ')})`) : '';
      io.out(`  ${io.color.bold(use.padEnd(width))}  ${summary}${also}`);
    }
    io.out('Remote paths are relative to the remote folder (pwd), local ones to the local folder (lpwd).');
    io.out("Tab completes commands and paths; Ctrl-C cancels a transfer; 'help <command>' for its options.");
  },
});

/** The help of one command (`help put`, `put --help`). */
export function helpLines(spec: CommandSpec): string[] {
  return [
    `usage: ${usageOf(spec)}`,
    `  ${spec.summary}`,
    ...(spec.aliases?.length ? [`  aliases: ${spec.aliases.join(', ')}`] : []),
    ...(spec.options ?? []).map((o) => `  ${o.flags.padEnd(22)} ${o.description}`),
  ];
}
