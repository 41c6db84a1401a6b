import { FileShareError } from '../errors.ts';

/**
 * Bounded readers for JSON message bodies: every field is checked for type and size, and a bad
 * one throws a FileShareError instead of flowing further as `unknown`.
 * @internal
 */

/** Largest JSON control body accepted, independent of the frame limit. */
export const MAX_JSON_BODY = 256 * 1024;
/** Largest string field (paths, names, passwords). */
export const MAX_STRING_FIELD = 4096;

export type JsonObject = Record<string, unknown>;

/** Parse a frame body as a JSON object. @throws EPROTO */
export function parseJsonObject(body: Buffer, what: string): JsonObject {
  if (body.length > MAX_JSON_BODY) {
    throw new FileShareError('EPROTO', `${what} body of ${body.length} bytes exceeds ${MAX_JSON_BODY}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new FileShareError('EPROTO', `${what} body is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FileShareError('EPROTO', `${what} body is not a JSON object`);
  }
  return value as JsonObject;
}

/** A required string field of at most `max` UTF-16 units. @throws EINVAL */
export function requireString(obj: JsonObject, key: string, max = MAX_STRING_FIELD): string {
  const value = obj[key];
  if (typeof value !== 'string') throw new FileShareError('EINVAL', `"${key}" must be a string`);
  if (value.length > max) throw new FileShareError('EINVAL', `"${key}" is longer than ${max} characters`);
  return value;
}

/** An optional boolean field (default false). @throws EINVAL */
export function optionalBoolean(obj: JsonObject, key: string): boolean {
  const value = obj[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new FileShareError('EINVAL', `"${key}" must be a boolean`);
  return value;
}

/** An optional non-negative safe integer field. @throws EINVAL */
export function optionalCount(obj: JsonObject, key: string): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new FileShareError('EINVAL', `"${key}" must be a non-negative integer`);
  }
  return value;
}

/** A required non-negative safe integer field. @throws EINVAL */
export function requireCount(obj: JsonObject, key: string): number {
  const value = optionalCount(obj, key);
  if (value === undefined) throw new FileShareError('EINVAL', `"${key}" is required`);
  return value;
}

/** A hex SHA-256 digest field. @throws EINVAL */
export function requireSha256(obj: JsonObject, key: string): string {
  const value = requireString(obj, key, 64);
  if (!/^[0-9a-f]{64}$/.test(value)) throw new FileShareError('EINVAL', `"${key}" must be a hex SHA-256 digest`);
  return value;
}
