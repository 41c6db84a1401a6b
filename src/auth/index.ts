/**
 * Authentication: the {@link AuthProvider} contract, bcrypt password helpers, the in-memory and
 * users-file providers, and the users file editing helpers.
 * @module
 */
export type { AuthContext, AuthenticatedUser, AuthProvider, Permission, ResumableUser } from './types.ts';
export { ALL_PERMISSIONS, DEFAULT_PERMISSIONS } from './types.ts';
export { DEFAULT_BCRYPT_COST, hashPassword, verifyPassword, type HashPasswordOptions } from './password.ts';
export { isValidUsername, parseUserRecord, toAuthenticatedUser, type UserRecord } from './user-record.ts';
export { MemoryAuthProvider, type MemoryAuthProviderOptions, type PlainUserEntry } from './memory-provider.ts';
export {
  addUser,
  listUsers,
  readUsersFile,
  removeUser,
  setUserPassword,
  writeUsersFile,
  type AddUserOptions,
  type UserListEntry,
} from './users-file.ts';
export { JsonFileAuthProvider, type JsonFileAuthProviderOptions } from './json-file-provider.ts';
