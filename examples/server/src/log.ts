/**
 * The server's log: one line per event, `2025-03-14 09:26:53 login ok alice from 192.168.1.20`.
 * The words after the timestamp are plain text, so `grep 'login failed'` works on a log file;
 * colour (only on a terminal, never with NO_COLOR: picocolors decides) highlights the event name.
 */
import pc from 'picocolors';
import { timestamp } from './format.ts';

type Paint = (text: string) => string;

/** Writes log lines and banner text; all server output goes through one of these. */
export interface Logger {
  /** A timestamped event line: `event` is the greppable keyword(s), `details` the rest. */
  event(event: string, details?: string, paint?: Paint): void;
  /** A warning line (yellow `warning`). */
  warn(message: string): void;
  /** An error line (red `error`); the server keeps running. */
  error(message: string): void;
  /** Untimestamped text for the startup banner and notes. */
  say(text?: string): void;
}

/** A logger writing to `out` (stdout by default). */
export function createLogger(out: NodeJS.WritableStream = process.stdout): Logger {
  // A closed terminal or a pipe into `head` must not take the server down: logging is best effort.
  out.on('error', () => {});
  const event = (name: string, details = '', paint: Paint = (s) => s) => {
    out.write(`${pc.dim(timestamp())} ${paint(name)}${details ? ` ${details}` : ''}\n`);
  };
  return {
    event,
    warn: (message) => event('warning', message, (s) => pc.yellow(pc.bold(s))),
    error: (message) => event('error', message, (s) => pc.red(pc.bold(s))),
    say: (text = '') => void out.write(`${text}\n`),
  };
}

/** Colours for event names, kept here so serve.ts stays about behaviour. */
export const paint = {
  ok: pc.green,
  bad: pc.red,
  transfer: pc.cyan,
  change: pc.magenta,
  quiet: pc.dim,
  strong: pc.bold,
  warn: pc.yellow,
} satisfies Record<string, Paint>;
