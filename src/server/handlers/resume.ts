import { requireString } from '../../protocol/fields.ts';
import { MAX_TOKEN_LENGTH } from '../resume-tokens.ts';
import type { Handler } from './handler.ts';

/**
 * `resume { token }`: log in with a session-resumption token from an earlier `login` (no bcrypt).
 * Same answer as `login`, with a token of the same expiry; one attempt at a time per connection.
 */
export const resume: Handler<'resume'> = {
  beforeLogin: true,
  async run(request) {
    return request.resume(requireString(request.args, 'token', MAX_TOKEN_LENGTH));
  },
};
