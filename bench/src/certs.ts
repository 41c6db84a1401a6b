/**
 * A throw-away self-signed certificate for the TLS systems (127.0.0.1 and localhost), made with the
 * openssl command line. Clients trust exactly this certificate as their CA.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';

const run = promisify(execFile);

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** Create `cert.pem` and `key.pem` (ECDSA P-256, valid one day) in `dir`. */
export async function makeSelfSignedCert(dir: string): Promise<CertFiles> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { timeout: 20_000 },
  );
  return { cert, key };
}
