/** lpwd: print the local working folder. */
import { defineCommand } from './types.ts';

export const lpwd = defineCommand({
  name: 'lpwd',
  args: '',
  summary: 'print the local folder',
  shellOnly: true,
  async run(ctx) {
    ctx.io.out(process.cwd());
  },
});
