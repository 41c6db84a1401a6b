/**
 * Reading a new password: hidden and asked twice on a terminal, or the first line of stdin for
 * scripts (`echo secret | npm start -- user add bob`), so no password lands in shell history or
 * in `ps` output as an argument would.
 */
import { createInterface } from 'node:readline';
import { AppError } from './errors.ts';

/** bcrypt reads at most 72 bytes; the library refuses longer passwords, so say it up front. */
const MAX_PASSWORD_BYTES = 72;
/** The shortest password `user add` / `user passwd` accept (NIST SP 800-63B's minimum for chosen secrets). */
export const MIN_PASSWORD_CHARS = 8;

function problem(value: string): string | undefined {
  if (value.length === 0) return 'the password must not be empty';
  if ([...value].length < MIN_PASSWORD_CHARS) return `the password must have at least ${MIN_PASSWORD_CHARS} characters`;
  if (Buffer.byteLength(value) > MAX_PASSWORD_BYTES) return `the password must be at most ${MAX_PASSWORD_BYTES} bytes`;
  return undefined;
}

/** Ask for a new password for `username`, from the terminal or from stdin. */
export async function readNewPassword(username: string): Promise<string> {
  const value = process.stdin.isTTY ? await askTwice(username) : await readLine();
  const issue = problem(value);
  if (issue) throw new AppError(issue);
  return value;
}

async function askTwice(username: string): Promise<string> {
  const { default: password } = await import('@inquirer/password'); // only terminals need it
  try {
    for (;;) {
      const first = await password({ message: `New password for ${username}:`, mask: '*', validate: (v) => problem(v) ?? true });
      const second = await password({ message: 'Repeat it:', mask: '*' });
      if (first === second) return first;
      console.error('The passwords differ; try again.');
    }
  } catch (err) {
    if ((err as Error).name === 'ExitPromptError') throw new AppError('cancelled');
    throw err;
  }
}

/** The first line of stdin (without its line ending). */
async function readLine(): Promise<string> {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  try {
    for await (const line of rl) return line;
  } finally {
    rl.close();
    process.stdin.destroy(); // a writer that keeps the pipe open must not keep us alive
  }
  throw new AppError('no password on stdin: pipe one line, e.g. `echo secret | npm start -- user add bob`');
}
