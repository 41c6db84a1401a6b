/**
 * The bare pipe with SHA-256 on both sides (TCP and TLS): the plain pipe of raw-system.ts, the
 * sender hashing what it sends and the receiver what it receives, digests compared, as fileshare
 * verifies every transfer end to end. Nothing else is added, so fileshare against this system shows
 * what its data path costs beyond the integrity check, and this system against the bare pipe what
 * the check itself costs on this machine.
 */
import { runRawSystem } from './raw-system.ts';

runRawSystem({ hash: 'both' });
