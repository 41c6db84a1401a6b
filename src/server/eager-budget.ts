import { FileShareError } from '../errors.ts';

/**
 * The eager upload allowance of one connection (docs/protocol.md §4): the bytes of new uploads a
 * client sent before their go-ahead, held until each upload's temporary file is open. Per request
 * at most `perRequest`, for all requests together at most `total`; more is a protocol violation,
 * since a client that follows the HELLO can always stay within both.
 * @internal
 */
export class EagerBudget {
  private heldBytes = 0;

  constructor(
    readonly perRequest: number,
    readonly total: number,
  ) {}

  /** Bytes held now for the connection's requests. */
  get held(): number {
    return this.heldBytes;
  }

  /**
   * Account `bytes` more for a request already holding `requestHeld`.
   * @throws EPROTO when either allowance would be exceeded
   */
  take(bytes: number, requestHeld: number, stream: number): void {
    if (requestHeld + bytes > this.perRequest) {
      throw new FileShareError(
        'EPROTO',
        `stream ${stream} sent ${requestHeld + bytes} bytes before its go-ahead; the eager allowance is ${this.perRequest}`,
      );
    }
    if (this.heldBytes + bytes > this.total) {
      throw new FileShareError(
        'EPROTO',
        `${this.heldBytes + bytes} bytes of uploads were sent before their go-ahead; the connection's eager allowance is ${this.total}`,
      );
    }
    this.heldBytes += bytes;
  }

  /** A request's held bytes were written or dropped. */
  give(bytes: number): void {
    this.heldBytes -= bytes;
  }
}
