/**
 * Every failure of the client ends up here: a one-line message for humans and an exit code for
 * scripts. Library failures arrive as FileShareError (match on `code`, never on the message);
 * failures on the local side and usage mistakes are CliErrors built by the commands.
 */
import { FileShareError, isFileShareError, type FileShareErrorCode } from 'fileshare';

/** Exit codes of `fileshare-client` (documented in the README). */
export const ExitCode = {
  OK: 0,
  GENERIC: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  CONNECTION: 6,
  /** Cancelled with Ctrl-C, as shells report SIGINT. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure with a finished message and its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.GENERIC,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A mistake on the command line: wrong arguments or options. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
  }
}

const EXIT_CODES: Record<FileShareErrorCode, ExitCode> = {
  EAUTH: ExitCode.AUTH,
  ENOTAUTH: ExitCode.AUTH,
  ETHROTTLED: ExitCode.AUTH,
  ENOENT: ExitCode.NOT_FOUND,
  ENOTDIR: ExitCode.NOT_FOUND,
  EEXIST: ExitCode.CONFLICT,
  ENOTEMPTY: ExitCode.CONFLICT,
  EACCES: ExitCode.CONFLICT,
  EINVAL: ExitCode.USAGE,
  EISDIR: ExitCode.GENERIC,
  EINTEGRITY: ExitCode.GENERIC,
  ETOOLARGE: ExitCode.GENERIC,
  EQUOTA: ExitCode.GENERIC,
  ENOSPC: ExitCode.GENERIC,
  EIO: ExitCode.GENERIC,
  EPROTO: ExitCode.CONNECTION,
  EBUSY: ExitCode.CONNECTION,
  ETIMEDOUT: ExitCode.CONNECTION,
  ETLS: ExitCode.CONNECTION,
  ECLOSED: ExitCode.CONNECTION,
  EABORTED: ExitCode.INTERRUPTED,
};

/** The human wording of a library failure; the server's messages already name the remote path. */
function remoteMessage(err: FileShareError): string {
  switch (err.code) {
    case 'EAUTH':
      return 'login failed: wrong username or password';
    case 'ENOTAUTH':
      return 'not logged in';
    case 'ETHROTTLED':
      return `login refused: too many failed attempts, try again later (${err.message})`;
    case 'EACCES':
      return err.message.startsWith('permission denied') ? err.message : `permission denied: ${err.message}`;
    case 'ECLOSED':
      return /connect|connection|server/i.test(err.message) ? err.message : `connection lost: ${err.message}`;
    case 'ETIMEDOUT':
      return `timed out: ${err.message}`;
    case 'ETLS':
      return `TLS: ${err.message}`;
    case 'EPROTO':
      return `protocol error: ${err.message}`;
    case 'EBUSY':
      // refused at connect (the server is full) or a limit hit by one request: never a lost connection
      return / refused the connection: /.test(err.message)
        ? `${err.message}; try again later`
        : `server busy, try again later: ${err.message}`;
    case 'EINTEGRITY':
      return `integrity check failed (nothing was kept): ${err.message}`;
    case 'EABORTED':
      return 'cancelled';
    default:
      return err.message;
  }
}

/** What to print and which exit code to use for any thrown value. */
export function describeError(err: unknown): { message: string; exitCode: ExitCode; code?: FileShareErrorCode } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (isFileShareError(err)) return { message: remoteMessage(err), exitCode: EXIT_CODES[err.code] ?? ExitCode.GENERIC, code: err.code };
  if ((err as { name?: unknown } | null)?.name === 'ExitPromptError') return { message: 'cancelled', exitCode: ExitCode.INTERRUPTED };
  const message = err instanceof Error ? err.message : String(err);
  return { message: `unexpected error: ${message}`, exitCode: ExitCode.GENERIC };
}

/** `err` when it is a FileShareError with `code`, for the commands' hints. */
export function hasCode(err: unknown, ...codes: FileShareErrorCode[]): err is FileShareError {
  return isFileShareError(err) && codes.includes(err.code);
}

/**
 * An error of the LOCAL file system (Node's `ENOENT`, `EACCES`, ...) as a CliError that says so,
 * so "local file not found" is never confused with a missing remote file.
 */
export function localError(err: unknown, path: string): CliError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return new CliError(`local file not found: ${path}`, ExitCode.NOT_FOUND);
    case 'ENOTDIR':
      return new CliError(`local path is not a folder: ${path}`, ExitCode.NOT_FOUND);
    case 'EACCES':
    case 'EPERM':
      return new CliError(`local permission denied: ${path}`, ExitCode.CONFLICT);
    case 'EEXIST':
      return new CliError(`local file exists: ${path}`, ExitCode.CONFLICT);
    case 'EISDIR':
      return new CliError(`local path is a folder: ${path}`, ExitCode.GENERIC);
    case 'ENOSPC':
      return new CliError(`no space left on the local disk for ${path}`, ExitCode.GENERIC);
    default:
      return new CliError(`local file ${path}: ${err instanceof Error ? err.message : String(err)}`, ExitCode.GENERIC);
  }
}
