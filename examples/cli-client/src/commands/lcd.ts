/** lcd: change the local working folder (the process cwd: local paths resolve against it). */
import os from 'node:os';
import { localError } from '../errors.ts';
import { resolveLocal } from '../paths.ts';
import { defineCommand } from './types.ts';

export const lcd = defineCommand({
  name: 'lcd',
  args: '[path]',
  summary: 'change the local folder (default: your home folder)',
  shellOnly: true,
  complete: ['local-dir'],
  async run(_ctx, [pathArg]) {
    const target = pathArg === undefined ? os.homedir() : resolveLocal(pathArg);
    try {
      process.chdir(target);
    } catch (err) {
      throw localError(err, pathArg ?? target);
    }
  },
});
