/** stat: metadata of remote files and folders. */
import { formatBytes, formatTime } from '../format.ts';
import { resolveRemote } from '../paths.ts';
import { entryJson } from './listing.ts';
import { defineCommand } from './types.ts';

export const stat = defineCommand({
  name: 'stat',
  args: '<path...>',
  summary: 'show type, size and modification time of remote paths',
  options: [{ flags: '--json', description: 'one JSON object per path' }],
  complete: ['remote'],
  async run(ctx, paths, opts) {
    for (const p of paths) {
      const remote = resolveRemote(ctx.cwd, p);
      const entry = await ctx.client.stat(remote);
      if (opts.json === true) {
        ctx.io.out(JSON.stringify(entryJson(entry, remote)));
        continue;
      }
      const size = entry.type === 'directory' ? '-' : `${formatBytes(entry.size)} (${entry.size} bytes)`;
      ctx.io.out(
        `  path: ${remote}\n  type: ${entry.type === 'directory' ? 'folder' : 'file'}\n  size: ${size}\n mtime: ${formatTime(entry.mtime)} (${new Date(entry.mtime).toISOString()})`,
      );
    }
  },
});
