/**
 * fileshare: authenticated client-server file sharing over TCP.
 *
 * Start a {@link FileShareServer} over a folder with an {@link AuthProvider}, then talk to it with
 * a {@link FileShareClient}. See the README for a walkthrough and docs/protocol.md for the wire format.
 * @packageDocumentation
 */

export { FileShareServer } from './server/server.ts';
export type { FileShareServerOptions, ServerTlsOptions } from './server/options.ts';
export type { LoginThrottleOptions } from './server/login-guard.ts';
export type { UdpProbeOptions } from './server/probe-responder.ts';
export type {
  SharedLoginThrottle,
  SharedQuotaReservation,
  SharedQuotas,
  SharedResumeLock,
  SharedResumeLocks,
  SharedState,
} from './server/shared-state.ts';
export type { ResumptionOptions } from './server/resume-tokens.ts';
export type {
  ConnectionInfo,
  DisconnectEvent,
  FileChangeEvent,
  LoginEvent,
  LoginFailedEvent,
  RenameEvent,
  RequestFailedEvent,
  ServerAddress,
  ServerEvents,
  TransferEvent,
  WarningEvent,
} from './server/events.ts';

export { FileShareClient } from './client/client.ts';
export type {
  CallOptions,
  ClientEvents,
  DownloadStream,
  FolderCallOptions,
  GoAwayEvent,
  LoginResult,
  PingOptions,
  ResumeToken,
  StatEntry,
  StatOptions,
  UploadStream,
} from './client/client.ts';
export type {
  FolderFailed,
  FolderFileEvent,
  FolderFileFailed,
  FolderFileSkipped,
  FolderFileTransferred,
  FolderOptions,
  FolderProgress,
  FolderResult,
  FolderSkipped,
  FolderTransferred,
  SkipReason,
  TreeEntry,
} from './client/folder-types.ts';
export type { SyncCompare, SyncOptions, SyncPlan, SyncResult } from './client/sync.ts';
export {
  globMatcher,
  globRemote,
  hasGlob,
  matchesGlob,
  type GlobListing,
  type GlobMatch,
  type GlobOptions,
  type GlobRemoteOptions,
} from './client/glob.ts';
export type { ClientTlsOptions, FileShareClientOptions } from './client/options.ts';
export type { DownloadOptions, TransferResult, UploadOptions } from './client/transfer-types.ts';
export type { MeasureOptions, MeasureResult } from './client/measure.ts';
export type { ProbeOptions } from './client/probe.ts';

export { FileShareError, isFileShareError } from './errors.ts';
export type { FileShareErrorCode } from './errors.ts';

export {
  ALL_PERMISSIONS,
  DEFAULT_PERMISSIONS,
  JsonFileAuthProvider,
  MemoryAuthProvider,
  addUser,
  hashPassword,
  isValidUsername,
  listUsers,
  parseUserRecord,
  readUsersFile,
  toAuthenticatedUser,
  removeUser,
  setUserPassword,
  verifyPassword,
  writeUsersFile,
} from './auth/index.ts';
export type {
  AddUserOptions,
  AuthContext,
  AuthenticatedUser,
  AuthProvider,
  HashPasswordOptions,
  JsonFileAuthProviderOptions,
  MemoryAuthProviderOptions,
  Permission,
  PlainUserEntry,
  ResumableUser,
  UserListEntry,
  UserRecord,
} from './auth/index.ts';

export { HashCache, hashStoredFile, LocalStorage, normalizeRemotePath } from './storage/index.ts';
export type {
  Entry,
  IncrementalHash,
  KeptPrefix,
  LocalStorageOptions,
  OpenUploadOptions,
  ReadHandle,
  ResumeOptions,
  Storage,
  StorageCapabilities,
  SweepOptions,
  UploadTarget,
} from './storage/index.ts';

export { ClientMetrics, ServerMetrics } from './metrics/events.ts';
export type {
  ClientMetricsEvents,
  PingEvent,
  PingLostEvent,
  ProbeEvent,
  ProbeLostEvent,
  ServerMetricsEvents,
  TransferComplete,
  TransferDirection,
  TransferProgress,
} from './metrics/events.ts';
export { summarize } from './metrics/summary.ts';
export type { MeasureSummary } from './metrics/summary.ts';
export type { ProbeRtt, UdpAvailable, UdpSummary, UdpUnavailable } from './metrics/probe-summary.ts';

export { PROTOCOL_VERSION } from './protocol/frame.ts';
export { VERSION } from './version.ts';
