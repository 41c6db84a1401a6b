/**
 * A small download's file is written once its data is verified (src/client/small-download.ts):
 * inline within the turn's budget of synchronous file work, through the thread pool past it, and
 * in either case created exclusively beside the target, renamed into place, and removed on failure.
 */
import { promises as fsp, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeSmallFile } from '../../src/client/small-download.ts';
import { toFileShareError } from '../../src/errors.ts';
import { charged, syncBudgetLeft } from '../../src/sync-budget.ts';
import { dispose, rejects, tempDir, walk } from './helpers.ts';

test.after.each(dispose);

const chunks = [Buffer.from('first part, '), Buffer.from('second part')];
const whole = Buffer.concat(chunks);
const mtimeMs = Date.UTC(2020, 0, 2, 3, 4, 5, 678);

/** `writeSmallFile`, its failures as the download reports them (Node's errors keep their code). */
function write(...args: Parameters<typeof writeSmallFile>): Promise<void> {
  return writeSmallFile(...args).catch((err: unknown) => {
    throw toFileShareError(err);
  });
}

/** Spend this turn's budget of synchronous file work, so that what follows in the turn takes the pooled path. */
function spendBudget(): void {
  charged(() => {
    const start = performance.now();
    while (syncBudgetLeft() && performance.now() - start < 50) {
      // busy: the budget counts the time spent inside charged()
    }
  });
}

for (const pooled of [false, true]) {
  const how = pooled ? 'through the pool (budget spent)' : 'inline';
  test(`${how}: the file appears under its name with the data and the mtime, nothing else is left`, async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'f.bin');
    if (pooled) spendBudget();
    assert.is(syncBudgetLeft(), !pooled);
    await writeSmallFile(path.join(dir, '.f.bin.part'), target, chunks, whole.length, mtimeMs);
    assert.equal(await fsp.readFile(target), whole);
    assert.is(Math.floor(statSync(target).mtimeMs), mtimeMs);
    assert.equal(await walk(dir), ['f.bin']);
  });

  test(`${how}: a temporary name already taken is EEXIST; that file is kept and nothing appears under the target`, async () => {
    const dir = await tempDir();
    const temp = path.join(dir, '.f.bin.part');
    writeFileSync(temp, 'someone else');
    if (pooled) spendBudget();
    await rejects(write(temp, path.join(dir, 'f.bin'), chunks, whole.length, undefined), 'EEXIST');
    assert.equal(await walk(dir), ['.f.bin.part']);
    assert.is(await fsp.readFile(temp, 'utf8'), 'someone else');
  });

  test(`${how}: data of another size than received is EIO, and the temporary file is removed`, async () => {
    const dir = await tempDir();
    if (pooled) spendBudget();
    await rejects(write(path.join(dir, '.f.bin.part'), path.join(dir, 'f.bin'), chunks, whole.length + 1, undefined), 'EIO');
    assert.equal(await walk(dir), []);
  });

  test(`${how}: a missing folder is ENOENT`, async () => {
    const dir = await tempDir();
    if (pooled) spendBudget();
    await rejects(write(path.join(dir, 'no', '.f.part'), path.join(dir, 'no', 'f'), chunks, whole.length, undefined), 'ENOENT');
    assert.equal(await walk(dir), []);
  });
}

test.run();
