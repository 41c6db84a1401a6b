/** pwd: print the remote working folder. */
import { defineCommand } from './types.ts';

export const pwd = defineCommand({
  name: 'pwd',
  args: '',
  summary: 'print the remote folder',
  shellOnly: true,
  async run(ctx) {
    ctx.io.out(ctx.cwd);
  },
});
