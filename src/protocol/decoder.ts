import { FileShareError } from '../errors.ts';
import { MAX_JSON_BODY } from './fields.ts';
import { type Frame, FrameType, HEADER_SIZE, LENGTH_OVERHEAD, frameTypeName, isFrameType } from './frame.ts';

/**
 * Incremental frame decoder: feed it bytes as they arrive with {@link FrameDecoder.push}, get whole
 * frames back. No I/O, no timers.
 *
 * ```
 *  0                   4       5                   9
 *  +-------------------+-------+-------------------+----------------------------+
 *  | length (u32)      | type  | stream (u32)      | body (length - 5 bytes)    |
 *  +-------------------+-------+-------------------+----------------------------+
 * ```
 *
 * States: `header` (waiting for 9 bytes) and `body` (waiting for `length - 5` bytes). Received
 * chunks are kept as a list with a byte count; bytes are copied only when a frame spans chunks, so a
 * frame that arrives inside one chunk is handed out as a zero-copy view. The length is checked
 * against `maxFrameSize` as soon as it is known, before anything is allocated for the body.
 *
 * Once it has thrown, the decoder is poisoned: the byte stream can no longer be trusted, and every
 * later `push` throws the same error.
 * @internal
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private state: 'header' | 'body' = 'header';
  private type = 0;
  private stream = 0;
  private bodyLength = 0;
  private failure: FileShareError | undefined;

  /**
   * @param maxFrameSize - largest accepted value of the length field
   * @param options - `streamData`: hand out DATA bodies in fragments as their bytes arrive, each a
   *   zero-copy view of a received chunk, instead of joining a frame that spans several socket reads
   *   (file data is a byte stream: its frame boundaries carry no meaning). Other frames are whole.
   *   `maxControlFrameSize`: with `streamData`, the largest length of any frame other than DATA, so
   *   that only control-sized frames are ever buffered whole (default: the JSON body limit + 5).
   */
  constructor(
    private readonly maxFrameSize: number,
    private readonly options: { streamData?: boolean; maxControlFrameSize?: number } = {},
  ) {}

  /** Bytes received but not yet part of a returned frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Add received bytes; returns the frames they complete (possibly none).
   * @throws FileShareError `EPROTO` on an oversized length, a length below 5 or an unknown type.
   */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.state === 'header') {
        if (this.buffered < HEADER_SIZE) break;
        const header = this.take(HEADER_SIZE);
        const length = header.readUInt32BE(0);
        const type = header.readUInt8(4);
        if (length > this.maxFrameSize) {
          this.fail(`frame of ${length} bytes exceeds the maximum of ${this.maxFrameSize}`);
        }
        if (length < LENGTH_OVERHEAD) this.fail(`frame length ${length} is below the minimum of ${LENGTH_OVERHEAD}`);
        if (!isFrameType(type)) this.fail(`unknown frame type ${frameTypeName(type)}`);
        if (this.options.streamData && type !== FrameType.DATA) {
          const maxControl = this.options.maxControlFrameSize ?? MAX_JSON_BODY + LENGTH_OVERHEAD;
          if (length > maxControl)
            this.fail(`${frameTypeName(type)} frame of ${length} bytes exceeds the control frame maximum of ${maxControl}`);
        }
        this.type = type;
        this.stream = header.readUInt32BE(5);
        this.bodyLength = length - LENGTH_OVERHEAD;
        this.state = 'body';
      }
      if (this.options.streamData && this.type === FrameType.DATA && this.bodyLength > 0) {
        // pass on what has arrived, chunk by chunk, without copying
        while (this.bodyLength > 0 && this.buffered > 0) {
          const piece = this.take(Math.min(this.bodyLength, this.chunks[0]!.length));
          this.bodyLength -= piece.length;
          frames.push({ type: FrameType.DATA, stream: this.stream, body: piece });
        }
        if (this.bodyLength > 0) break;
        this.state = 'header';
        continue;
      }
      if (this.buffered < this.bodyLength) break;
      const body = this.take(this.bodyLength);
      frames.push({ type: this.type as Frame['type'], stream: this.stream, body });
      this.state = 'header';
    }
    return frames;
  }

  private fail(message: string): never {
    this.failure = new FileShareError('EPROTO', message);
    this.chunks.length = 0;
    this.buffered = 0;
    throw this.failure;
  }

  /** Remove `n` bytes from the front of the buffered chunks; zero-copy when they lie in one chunk. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    this.buffered -= n;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const want = n - filled;
      if (head.length <= want) {
        head.copy(out, filled);
        filled += head.length;
        this.chunks.shift();
      } else {
        head.copy(out, filled, 0, want);
        this.chunks[0] = head.subarray(want);
        filled += want;
      }
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
