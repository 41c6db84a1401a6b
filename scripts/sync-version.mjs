#!/usr/bin/env node
// After `changeset version` bumps package.json, write the same version into src/version.ts
// (announced in HELLO as the agent string). A test checks that the two agree.
import { readFileSync, writeFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const file = new URL('../src/version.ts', import.meta.url);
const source = readFileSync(file, 'utf8').replace(/export const VERSION = '[^']*';/, `export const VERSION = '${version}';`);
writeFileSync(file, source);
console.log(`src/version.ts -> ${version}`);
