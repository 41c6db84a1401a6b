/**
 * Storage backends: the {@link Storage} contract, safe remote paths and the local-folder backend.
 * @module
 */
export type {
  Entry,
  IncrementalHash,
  KeptPrefix,
  OpenUploadOptions,
  ReadHandle,
  ResumeOptions,
  Storage,
  StorageCapabilities,
  SweepOptions,
  UploadTarget,
} from './types.ts';
export { DEFAULT_READ_HIGH_WATER_MARK, LocalStorage, type LocalStorageOptions } from './local-storage.ts';
export {
  joinRemote,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  MAX_PATH_DEPTH,
  normalizeRemotePath,
  remoteBasename,
  remoteDirname,
} from './remote-path.ts';
export { isTempName, TEMP_PREFIX } from './temp-names.ts';
export { HashCache, hashStoredFile } from './file-hash.ts';
