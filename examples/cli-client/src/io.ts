/** Where the client writes: results to stdout, diagnostics and progress bars to stderr. */
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

export interface Io {
  /** Print one line of results (stdout). */
  out(line: string): void;
  /** Print one line of diagnostics (stderr). */
  err(line: string): void;
  /** Suppress transfer summaries and progress bars (`--quiet`). */
  readonly quiet: boolean;
  /** Draw progress bars: only when stderr is a terminal and not quiet. */
  readonly progress: boolean;
  /** Colours for stdout (off with NO_COLOR, `--no-color` or when stdout is not a terminal). */
  readonly color: Colors;
  /** Colours for stderr. */
  readonly errColor: Colors;
}

export function createIo(options: { quiet?: boolean } = {}): Io {
  const quiet = options.quiet === true;
  const noColor = 'NO_COLOR' in process.env || process.argv.includes('--no-color');
  return {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
    quiet,
    progress: !quiet && process.stderr.isTTY === true,
    color: pc.createColors(!noColor && process.stdout.isTTY === true),
    errColor: pc.createColors(!noColor && process.stderr.isTTY === true),
  };
}

/** Wait until stdout and stderr have handed everything to the OS (pipes are asynchronous). */
export async function flushOutput(): Promise<void> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
}
