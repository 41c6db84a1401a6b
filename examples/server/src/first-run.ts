/**
 * First start: no users file yet. Create one holding `admin` with a random password, shown once,
 * so a newcomer can log in at once (and nobody ships with a default password).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ALL_PERMISSIONS, addUser } from 'fileshare';
import type { Logger } from './log.ts';
import { paint } from './log.ts';

/**
 * Crockford's base32 alphabet: no i, l, o or u, so nothing to confuse when reading it out.
 * 32 symbols, so `byte % 32` keeps every symbol equally likely.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A password like `k7qm-x3fp-2hvr-9dzn`: 80 random bits, easy to read out and type. */
export function randomPassword(): string {
  const chars = [...randomBytes(16)].map((b) => ALPHABET[b % 32]);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-');
}

/**
 * Create the users file with an `admin` user when it does not exist.
 * @param file - the users file
 * @param usersFlag - how to point `user passwd` at this file (` --users x`), empty for the default
 * @returns whether the file was created
 */
export async function ensureUsersFile(file: string, usersFlag: string, log: Logger): Promise<boolean> {
  if (existsSync(file)) return false;
  await mkdir(dirname(file), { recursive: true });
  const password = randomPassword();
  await addUser(file, 'admin', password, { permissions: [...ALL_PERMISSIONS] });
  const rule = paint.warn('-'.repeat(64));
  log.say(rule);
  log.say(`created ${file} with the user admin (permissions ${ALL_PERMISSIONS.join(', ')}; home: the whole root)`);
  log.say(`  admin password: ${paint.strong(password)}`);
  log.say('  it is shown only this once: note it, or change it now with');
  log.say(`  npm start -- user passwd admin${usersFlag}`);
  log.say(rule);
  return true;
}
