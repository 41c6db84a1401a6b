/**
 * Self-signed TLS certificates for tests (EC P-256, SHA-256, for `localhost`), made with `selfsigned`.
 *
 * Loading `selfsigned` (pkijs, @peculiar/x509) is about a quarter of a second of CPU, ten times the
 * making of an EC certificate, and four test files need certificates. Under `npm test` each named
 * certificate is therefore made once per run, by the first file that asks for it, and kept in the
 * run's scratch folder (FILESHARE_TEST_RUN_DIR, which scripts/test.mjs creates and removes at the
 * end) for the other files: throwaway keys, never in the tree. Without that folder (a file run on its
 * own through tsx) each process makes its own.
 *
 * A name is one certificate: files that ask for the same name get the same key and certificate; a
 * test that needs two different certificates asks for two names.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A key, its certificate (PEM) and the certificate's SHA-256 fingerprint (as Node prints it). */
export interface TestCertificate {
  readonly key: string;
  readonly cert: string;
  readonly fingerprint256: string;
}

/** Options of {@link testCertificate}. */
export interface TestCertificateOptions {
  /** Subject alternative names: `localhost` (DNS) and 127.0.0.1 (IP), or `localhost` only. Default: both. */
  readonly altNames?: 'dns+ip' | 'dns';
}

const made = new Map<string, Promise<TestCertificate>>();

/** The certificate called `name` (made on first use, then the same one for this run). */
export function testCertificate(name: string, options: TestCertificateOptions = {}): Promise<TestCertificate> {
  const altNames = options.altNames ?? 'dns+ip';
  const id = `${name}.${altNames}`;
  if (!/^[\w.+-]+$/.test(id)) throw new Error(`testCertificate: a name of letters, digits, . + - _ only, got ${JSON.stringify(name)}`);
  let certificate = made.get(id);
  if (!certificate) {
    certificate = shared(id, () => generate(altNames));
    made.set(id, certificate);
  }
  return certificate;
}

/** The run's copy of certificate `id`, or a new one saved there for the next file. */
async function shared(id: string, make: () => Promise<TestCertificate>): Promise<TestCertificate> {
  const dir = process.env.FILESHARE_TEST_RUN_DIR;
  if (!dir) return make();
  const file = join(dir, 'tls', `${id}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as TestCertificate;
  } catch {
    // not made yet in this run
  }
  const certificate = await make();
  // written whole, then renamed: a file reading at the same moment sees all of it or nothing (two
  // files that miss it at once each make one and each keeps its own, so one file sees one certificate)
  await mkdir(join(dir, 'tls'), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temp, JSON.stringify(certificate), { mode: 0o600 });
  await rename(temp, file);
  return certificate;
}

async function generate(altNames: 'dns+ip' | 'dns'): Promise<TestCertificate> {
  const { default: selfsigned } = await import('selfsigned');
  const names: Array<{ type: 2; value: string } | { type: 7; ip: string }> = [{ type: 2, value: 'localhost' }];
  if (altNames === 'dns+ip') names.push({ type: 7, ip: '127.0.0.1' });
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: names }],
  });
  return { key: pems.private, cert: pems.cert, fingerprint256: new X509Certificate(pems.cert).fingerprint256 };
}
