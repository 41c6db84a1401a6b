/**
 * Raw-TCP (and raw-TLS) baseline: the plain pipe of raw-system.ts, with the receiving side hashing
 * SHA-256 on the fly, as fileshare does. This is the Node limit for an integrity-checked copy.
 */
import { runRawSystem } from './raw-system.ts';

runRawSystem({ hash: 'receiver' });
