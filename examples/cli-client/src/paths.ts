/**
 * Path rules of the client. Remote paths are POSIX strings relative to the shell's remote cwd
 * (`/` is the user's root on the server, so `~` means `/` too); local paths follow the OS and
 * are relative to the process cwd, which `lcd` changes.
 */
import os from 'node:os';
import path from 'node:path';

/** Resolve a remote path typed by the user against the remote cwd. */
export function resolveRemote(cwd: string, input: string): string {
  const expanded = input === '~' ? '/' : input.startsWith('~/') ? input.slice(1) : input;
  return path.posix.resolve(cwd, expanded);
}

/** Did the user mean "into this folder" (`/backup/`)? */
export function meansFolder(input: string): boolean {
  return input.endsWith('/') || input === '.' || input === '..' || input === '~';
}

/** The last component of a remote path (empty for `/`). */
export function remoteBasename(remote: string): string {
  return path.posix.basename(remote);
}

/** Join remote path parts. */
export function remoteJoin(...parts: string[]): string {
  return path.posix.join(...parts);
}

/** Expand a leading `~` and make a local path absolute. */
export function resolveLocal(input: string): string {
  if (input === '~') return os.homedir();
  if (input.startsWith('~/') || input.startsWith(`~${path.sep}`)) return path.join(os.homedir(), input.slice(2));
  return path.resolve(input);
}

/** A local path as short as possible for messages: relative to the cwd when inside it. */
export function displayLocal(absolute: string): string {
  const rel = path.relative(process.cwd(), absolute);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : absolute;
}

/** Where TLS fingerprints are remembered unless --known-hosts or FILESHARE_KNOWN_HOSTS says otherwise. */
export function defaultKnownHostsPath(): string {
  return path.join(os.homedir(), '.fileshare', 'known_hosts');
}
