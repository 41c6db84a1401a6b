/**
 * Loading the TLS key and certificate for `serve`, and the fingerprint clients pin.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerTlsOptions } from 'fileshare';
import { AppError } from './errors.ts';

/** The SHA-256 fingerprint exactly as Node prints it (`AB:12:...`), what `tls.fingerprint256` pins. */
export function fingerprint256(certPem: string | Buffer): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** What `serve` needs to run over TLS. */
export interface LoadedTls {
  options: ServerTlsOptions;
  fingerprint: string;
  /** Certificate expiry, for the banner. */
  validTo: Date;
}

/**
 * Read `--tls-key` and `--tls-cert`. Both or neither must be given.
 * @throws AppError naming the flag and file when one is missing or unreadable or not a PEM certificate
 */
export async function loadTls(keyPath: string | undefined, certPath: string | undefined): Promise<LoadedTls | undefined> {
  if (!keyPath && !certPath) return undefined;
  if (!keyPath || !certPath) {
    throw new AppError(
      `--tls-key and --tls-cert go together (missing ${keyPath ? '--tls-cert' : '--tls-key'}); create both with the "cert" command`,
    );
  }
  const read = async (flag: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new AppError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const [key, cert] = [await read('--tls-key', keyPath), await read('--tls-cert', certPath)];
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new AppError(`--tls-cert ${certPath} is not a PEM certificate`);
  }
  if (!x509.checkPrivateKey(privateKeyOf(key, keyPath))) {
    throw new AppError(`--tls-key ${keyPath} does not belong to the certificate ${certPath}`);
  }
  return { options: { key, cert }, fingerprint: x509.fingerprint256, validTo: new Date(x509.validTo) };
}

function privateKeyOf(pem: Buffer, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new AppError(`--tls-key ${path} is not a PEM private key (or it is encrypted, which is not supported)`);
  }
}
