import type { OperationName, ResponseOf } from '../../protocol/operations.ts';
import type { RequestContext } from '../request-context.ts';

/** One protocol operation on the server. @internal */
export interface Handler<Op extends OperationName = OperationName> {
  /** Allowed before login (only `login` itself). */
  readonly beforeLogin?: boolean;
  /** Do the work; resolve to the final RESPONSE body (nothing: `{}`), or throw a FileShareError. */
  run(request: RequestContext): Promise<ResponseOf<Op> | void>;
}

/** The dispatch table's type: every operation of the vocabulary has its handler. @internal */
export type HandlerTable = { readonly [Op in OperationName]: Handler<Op> };
