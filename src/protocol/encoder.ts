import { FrameType, HEADER_SIZE, LENGTH_OVERHEAD } from './frame.ts';

/**
 * Frame encoding. Control frames come out as one buffer; DATA frames as a header plus the caller's
 * payload untouched, so file bytes are never copied (the transport writes both inside cork/uncork).
 * @internal
 */

/** The 9-byte header of a frame whose body is `bodyLength` bytes. */
export function encodeHeader(type: FrameType, stream: number, bodyLength: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32BE(bodyLength + LENGTH_OVERHEAD, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32BE(stream >>> 0, 5);
  return header;
}

/** A whole frame with a small body in one buffer (one copy of the body, fine for control frames). */
export function encodeFrame(type: FrameType, stream: number, body: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + body.length);
  out.writeUInt32BE(body.length + LENGTH_OVERHEAD, 0);
  out.writeUInt8(type, 4);
  out.writeUInt32BE(stream >>> 0, 5);
  body.copy(out, HEADER_SIZE);
  return out;
}

/** A frame with a JSON object body. */
export function encodeJsonFrame(type: FrameType, stream: number, value: object): Buffer {
  return encodeFrame(type, stream, Buffer.from(JSON.stringify(value), 'utf8'));
}

/** A CREDIT frame granting `bytes` more. */
export function encodeCredit(stream: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 4);
  out.writeUInt32BE(4 + LENGTH_OVERHEAD, 0);
  out.writeUInt8(FrameType.CREDIT, 4);
  out.writeUInt32BE(stream >>> 0, 5);
  out.writeUInt32BE(bytes >>> 0, HEADER_SIZE);
  return out;
}

/** A DATA frame as `[header, payload]`: the payload is not copied. */
export function encodeData(stream: number, payload: Buffer): [Buffer, Buffer] {
  return [encodeHeader(FrameType.DATA, stream, payload.length), payload];
}

const EMPTY = Buffer.alloc(0);
