/** Shell history persisted across runs: ~/.fileshare_history (or FILESHARE_HISTORY), capped. */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const HISTORY_SIZE = 1000;

export function historyPath(): string {
  return process.env.FILESHARE_HISTORY || path.join(os.homedir(), '.fileshare_history');
}

/** Saved lines, newest first (readline's order); empty when there is no file yet. */
export function loadHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

/** Write readline's history (newest first) oldest first, one command per line, private to the user. */
export async function saveHistory(file: string, history: readonly string[]): Promise<void> {
  const lines = history.slice(0, HISTORY_SIZE).reverse();
  await writeFile(file, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600 }).catch(() => {
    /* history is a convenience: an unwritable home folder must not break the shell */
  });
}
