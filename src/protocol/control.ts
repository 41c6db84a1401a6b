import { ERROR_CODES, FileShareError, type FileShareErrorCode } from '../errors.ts';
import { type JsonObject, parseJsonObject } from './fields.ts';
import type { Frame } from './frame.ts';
import type { ErrorBody, GoAwayBody } from './operations.ts';

/**
 * Bodies of the control frames, built and parsed in one place for both sides: CREDIT, ERROR and
 * GOAWAY (HELLO has its own file).
 * @internal
 * @module
 */

/** Largest encoded ERROR body: always below the smallest frame limit a peer may announce (1 KiB). */
export const MAX_ERROR_BODY = 900;

/** The bytes a CREDIT frame grants. @throws EPROTO unless the body is one u32 */
export function parseCredit(frame: Frame): number {
  if (frame.body.length !== 4) throw new FileShareError('EPROTO', 'CREDIT body must be 4 bytes');
  return frame.body.readUInt32BE(0);
}

/**
 * The body of an ERROR frame. A message quoting long paths is cut (with an ellipsis) so that the
 * encoded body, JSON escapes included, fits {@link MAX_ERROR_BODY} bytes.
 */
export function errorBody(error: FileShareError): ErrorBody {
  let message = error.message;
  while (Buffer.byteLength(JSON.stringify({ code: error.code, message })) > MAX_ERROR_BODY) {
    message = `${message.slice(0, Math.floor(message.length * 0.8))}…`;
  }
  return { code: error.code, message };
}

/** A FileShareError from a received ERROR body; a code this side does not know becomes `EIO`. */
export function parseErrorBody(body: JsonObject): FileShareError {
  const code =
    typeof body.code === 'string' && ERROR_CODES.has(body.code as FileShareErrorCode) ? (body.code as FileShareErrorCode) : 'EIO';
  const message = typeof body.message === 'string' ? body.message.slice(0, 1000) : 'the server reported an error';
  return new FileShareError(code, message);
}

/** A received GOAWAY. @throws EPROTO when the body is not a JSON object */
export function parseGoAway(frame: Frame): GoAwayBody {
  const body = parseJsonObject(frame.body, 'GOAWAY');
  return { reason: typeof body.reason === 'string' ? body.reason.slice(0, 1000) : 'shutting down' };
}
