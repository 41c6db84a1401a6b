/**
 * The `cert` command: a self-signed certificate for this machine, for `--tls-key`/`--tls-cert`.
 * Clients cannot check a self-signed certificate against a CA, so they pin its SHA-256
 * fingerprint instead (`tls: { fingerprint256 }`); this command prints it.
 */
import { chmod, mkdir, open } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import pc from 'picocolors';
import { hostNames, lanAddresses } from './addresses.ts';
import { AppError } from './errors.ts';
import { fingerprint256 } from './tls.ts';

/** Options of the `cert` command. */
export interface CertOptions {
  /** Folder for key.pem and cert.pem (created if missing). */
  out: string;
  /** Validity in days. */
  days: number;
  /** Replace existing files. */
  force: boolean;
}

/** Generate, write and describe a certificate. */
export async function certCommand(options: CertOptions): Promise<void> {
  const keyPath = join(options.out, 'key.pem');
  const certPath = join(options.out, 'cert.pem');
  // Check both before writing either, so a refusal never leaves a key without its certificate.
  const existing = [keyPath, certPath].find((p) => existsSync(p));
  if (existing && !options.force) {
    throw new AppError(`${existing} already exists (clients may have pinned it); pass --force to replace it`);
  }
  const names = hostNames();
  const ips = ['127.0.0.1', '::1', ...lanAddresses().map((a) => a.address.replace(/%.*$/, ''))];
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate.getTime() + options.days * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: names.find((n) => n !== 'localhost') ?? 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.map((value) => ({ type: 2 as const, value })), ...[...new Set(ips)].map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  await mkdir(options.out, { recursive: true });
  await writeNew(keyPath, pems.private, 0o600, options.force);
  await writeNew(certPath, pems.cert, 0o644, options.force);
  const fingerprint = fingerprint256(pems.cert);

  console.log(`wrote ${keyPath} (private key, mode 600: keep it secret)`);
  console.log(`wrote ${certPath} (valid until ${notAfterDate.toISOString().slice(0, 10)})`);
  console.log(`names: ${names.join(', ')}; addresses: ${[...new Set(ips)].join(', ')}`);
  console.log('');
  console.log(`SHA-256 fingerprint: ${pc.bold(fingerprint)}`);
  console.log('');
  console.log('start the server with it:');
  console.log(`  npm start -- --tls-key ${keyPath} --tls-cert ${certPath}`);
  console.log('clients pin the fingerprint: new FileShareClient({ host, tls: { fingerprint256: "<the fingerprint above>" } })');
}

/** Write a file that must not exist yet (unless `force`), with `mode` from its creation on. */
async function writeNew(path: string, text: string, mode: number, force: boolean): Promise<void> {
  const handle = await open(path, force ? 'w' : 'wx', mode);
  try {
    await handle.writeFile(text, 'utf8');
  } finally {
    await handle.close();
  }
  await chmod(path, mode); // an existing file (with --force) keeps its old mode otherwise
}
