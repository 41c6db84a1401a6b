/**
 * How the app fails: one clear line on stderr and a non-zero exit code, never a stack trace
 * (set FILESHARE_DEBUG=1 to get one).
 */
import { isFileShareError } from 'fileshare';
import pc from 'picocolors';

/** An expected failure (bad configuration, refused input) whose message is meant for the user. */
export class AppError extends Error {
  override name = 'AppError';
}

/** The one-line message for any error. */
export function describeError(err: unknown): string {
  if (err instanceof AppError || isFileShareError(err)) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** Print `fileshare-server: error: ...` and exit with `code`. */
export function exitWithError(err: unknown, code = 1): never {
  process.stderr.write(`${pc.red('fileshare-server: error:')} ${describeError(err)}\n`);
  if (process.env.FILESHARE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(code);
}
