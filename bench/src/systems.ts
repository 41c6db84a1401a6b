/**
 * The systems the suite measures. Adding one is a worker file in workers/ (a `SystemWorker`) plus an
 * entry here. The ratio columns compare every system with `raw` (the Node limit) and `ftp` (the peer).
 */
import type { WorkloadId } from './results.ts';

export interface SystemDef {
  /** Short id, used by `--only` and in the JSON. */
  readonly id: string;
  /** Label in the printed table. */
  readonly label: string;
  /** Worker file under workers/, without `.ts`. */
  readonly worker: string;
  readonly tls: boolean;
  /** Workloads this system takes part in. */
  readonly workloads: readonly WorkloadId[];
  /** Targets in the README apply to systems marked as under test. */
  readonly underTest: boolean;
  /** Left out of `--quick` runs unless `--only` names it (it needs a system package: CI stays short). */
  readonly notQuick?: boolean;
}

const ALL: readonly WorkloadId[] = ['throughput', 'ping', 'small', 'tree', 'concurrency', 'logins', 'memory'];
const FILESHARE: readonly WorkloadId[] = [...ALL, 'reconnect'];

export const SYSTEMS: readonly SystemDef[] = [
  { id: 'pipe', label: 'bare pipe TCP', worker: 'pipe', tls: false, workloads: ['throughput', 'small'], underTest: false },
  { id: 'pipe-tls', label: 'bare pipe TLS', worker: 'pipe', tls: true, workloads: ['throughput', 'small'], underTest: false },
  // the bare pipe plus SHA-256 on both sides: what the end-to-end check alone costs (throughput)
  { id: 'pipe-sha', label: 'pipe+SHA-256 TCP', worker: 'pipe-sha', tls: false, workloads: ['throughput'], underTest: false },
  { id: 'pipe-sha-tls', label: 'pipe+SHA-256 TLS', worker: 'pipe-sha', tls: true, workloads: ['throughput'], underTest: false },
  {
    id: 'raw',
    label: 'raw TCP',
    worker: 'raw',
    tls: false,
    workloads: ['throughput', 'ping', 'small', 'concurrency', 'memory'],
    underTest: false,
  },
  { id: 'raw-tls', label: 'raw TLS', worker: 'raw', tls: true, workloads: ['throughput', 'ping'], underTest: false },
  {
    id: 'sftp',
    label: 'OpenSSH sftp+ssh2',
    worker: 'sftp',
    tls: false,
    workloads: ['throughput', 'ping', 'small', 'tree', 'concurrency'],
    underTest: false,
    notQuick: true,
  },
  { id: 'ftp', label: 'ftp-srv+basic-ftp', worker: 'ftp', tls: false, workloads: ALL, underTest: false },
  { id: 'fileshare', label: 'fileshare', worker: 'fileshare', tls: false, workloads: FILESHARE, underTest: true },
  { id: 'fileshare-tls', label: 'fileshare TLS', worker: 'fileshare', tls: true, workloads: FILESHARE, underTest: true },
  // the s3 workload: fileshare serving from a bucket (S3Storage) vs. the AWS SDK alone on the same radosgw
  { id: 's3-fileshare', label: 'fileshare over S3', worker: 'fileshare', tls: false, workloads: ['s3'], underTest: true },
  { id: 's3-sdk', label: 'AWS SDK alone', worker: 's3-sdk', tls: false, workloads: ['s3'], underTest: false },
];

/** The baseline the `vs pipe` column divides by (its TLS variant for a TLS system), and the peer. */
export const BASELINE_ID = 'pipe';
export const PEER_ID = 'sftp';

/** The reference a target or ratio means for `system`: a baseline's TLS variant for a TLS system. */
export function referenceFor(ref: 'pipe' | 'pipe-sha' | 'raw' | 'sftp' | 'ftp', system: string): string {
  const tls = SYSTEMS.find((s) => s.id === system)?.tls ?? false;
  return (ref === 'pipe' || ref === 'pipe-sha' || ref === 'raw') && tls ? `${ref}-tls` : ref;
}

/**
 * Whether an `--only` token selects a system: its id, or its family (`raw` selects `raw` and
 * `raw-tls`; `fileshare` selects both fileshare systems).
 */
export function matchesSystem(token: string, system: SystemDef): boolean {
  return system.id === token || system.id.startsWith(token + '-');
}
