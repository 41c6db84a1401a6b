#!/usr/bin/env node
// Runs several short test files in this one process, one after another, as uvu's own CLI runs a
// whole suite: for a file of a second or two, starting a process of its own (node, the bundle, the
// bcrypt threads of its first login) cost about as much CPU as its tests. scripts/test.mjs starts
// it with the test files' paths (bundles, or the sources under tsx) as arguments.
//
// Each file is imported and its tests run to the end before the next one is imported, so files
// never overlap. Around each file's own output it prints a line
//     \x1e<begin|end> <JSON>
// (a record separator, then `begin` with the file's index, or `end` with its index, wall and CPU
// time in ms and whether it failed), which the runner uses to cut the output back into files.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

// one stream, so that a file's errors stay between its own marks
process.stderr.write = process.stdout.write.bind(process.stdout);
// before uvu is loaded: `test.run()` then queues the tests instead of starting them at once
globalThis.UVU_DEFER = 1;
const uvu = await import('uvu');

let failed = false;
const paths = process.argv.slice(2);
for (const [index, path] of paths.entries()) {
  mark('begin', { index });
  const begin = Date.now();
  const cpu = process.cpuUsage();
  const reaped = reapedCpuMs();
  // one group per file, without uvu's file header (the runner prints its own)
  globalThis.UVU_QUEUE = [[null]];
  globalThis.UVU_INDEX = 0;
  let ok = true;
  try {
    await import(pathToFileURL(path).href);
    process.exitCode = 0;
    await uvu.exec();
    ok = process.exitCode === 0;
  } catch (err) {
    console.error(err);
    ok = false;
  }
  const used = process.cpuUsage(cpu);
  failed ||= !ok;
  // with the processes the file started and waited for (apps, servers), as for a file of its own
  const children = reapedCpuMs() - reaped;
  mark('end', { index, ms: Date.now() - begin, cpuMs: Math.round((used.user + used.system) / 1000 + children), ok });
}
process.exitCode = failed ? 1 : 0;

function mark(kind, data) {
  process.stdout.write(`\x1e${kind} ${JSON.stringify(data)}\n`);
}

/** cutime + cstime of this process in ms: the CPU time of the children it reaped (0 off Linux). */
function reapedCpuMs() {
  try {
    // the fields after the command name, which is in parentheses and may hold spaces; USER_HZ is 100
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return 0;
  }
}
