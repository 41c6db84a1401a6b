import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', s3: 'src/storage/s3/index.ts', postgres: 'src/postgres/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  shims: false,
  // fileshare/testing and the backends import the main entry by name: keep it one module at run
  // time (one FileShareError class); the backends' SDKs are optional peer dependencies
  external: ['fileshare', '@aws-sdk/client-s3', 'hash-wasm', 'pg'],
});
