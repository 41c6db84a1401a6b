/**
 * The bare pipe (TCP and TLS): the plain pipe of raw-system.ts with no hashing at all, disk to
 * disk in 1 MiB reads, one JSON header line per transfer, TCP_NODELAY. This is the ceiling the
 * throughput and small-file targets are taken against.
 */
import { runRawSystem } from './raw-system.ts';

runRawSystem({ hash: 'none' });
