/** quit: log out and leave the shell. */
import { defineCommand } from './types.ts';

export const quit = defineCommand({
  name: 'quit',
  aliases: ['exit', 'bye', 'logout'],
  args: '',
  summary: 'log out and leave (Ctrl-D too)',
  shellOnly: true,
  async run(ctx) {
    ctx.quit();
  },
});
