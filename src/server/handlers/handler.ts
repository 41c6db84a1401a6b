import type { RequestContext } from '../request-context.ts';

/** One protocol operation on the server. @internal */
export interface Handler {
  /** Allowed before login (only `login` itself). */
  readonly beforeLogin?: boolean;
  /** Do the work; resolve to the final RESPONSE body, or throw a FileShareError. */
  run(request: RequestContext): Promise<object | void>;
}
