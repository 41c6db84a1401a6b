/** Read a password from the terminal without echoing it. */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

/** Prompt on stderr, read one line from stdin with the echo muted. Rejects when stdin is not a terminal. */
export function promptPassword(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    return Promise.reject(new Error('no password: set FILESHARE_PASSWORD (stdin is not a terminal, so it cannot be asked for)'));
  }
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve, reject) => {
    rl.on('SIGINT', () => {
      rl.close();
      process.stderr.write('\n');
      reject(new Error('cancelled'));
    });
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}
