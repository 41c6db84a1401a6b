import type { TLSSocket } from 'node:tls';
import { FileShareError } from '../errors.ts';

/** `AA:BB:..` or `aabb..` → `aabb..`. @internal */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
}

/**
 * Compare the server certificate's SHA-256 fingerprint with a pin.
 * Returns an `ETLS` error on mismatch (or a missing certificate), undefined when it matches.
 * @internal
 */
export function checkFingerprint(socket: TLSSocket, expected: string): FileShareError | undefined {
  const actual = socket.getPeerCertificate()?.fingerprint256;
  if (!actual) return new FileShareError('ETLS', 'the server presented no certificate');
  if (normalizeFingerprint(actual) !== normalizeFingerprint(expected)) {
    return new FileShareError(
      'ETLS',
      `server certificate fingerprint ${actual} does not match the pinned ${expected}: possible man-in-the-middle, or the server's certificate changed`,
    );
  }
  return undefined;
}
