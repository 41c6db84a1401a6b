// Lint: the layering of src/ as rules, so a wrong-way import fails CI (`npm run lint`).
//   protocol/  the wire vocabulary: no I/O (no net, tls, fs, dgram, child_process), no upper layer
//   transport/ frames over a byte stream: protocol/ below it, nothing above
//   storage/, auth/, metrics/: no server, no client
//   client feature files (upload, download, folders, sync, ...): the channel and client/ only,
//   never transport/ or protocol/ directly (only channel.ts, client.ts and the probe speak the wire)
//   server/handlers/: the request context, never the session, the core or the server
// Style is prettier's business (`npm run format:check`); only these structural rules are errors.
import tseslint from 'typescript-eslint';

const io = ['node:net', 'node:tls', 'node:fs', 'node:fs/promises', 'node:dgram', 'node:child_process', 'net', 'tls', 'fs', 'dgram'];
const restrict = (paths, patterns) => ({
  'no-restricted-imports': ['error', { paths: paths.map((name) => ({ name, message: 'this layer does no I/O' })), patterns }],
});
const layer = (group, message) => ({ group, message });

export default tseslint.config(
  { ignores: ['dist/**', 'docs/api/**', 'node_modules/**', '**/node_modules/**', 'bench/results/**'] },
  {
    files: ['src/**/*.ts'],
    languageOptions: { parser: tseslint.parser },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: restrict(io, [
      layer(['../transport/*', '../server/*', '../client/*', '../storage/*', '../auth/*', '../metrics/*'], 'protocol/ is the bottom layer'),
    ]),
  },
  {
    files: ['src/transport/**/*.ts'],
    rules: restrict(
      [],
      [layer(['../server/*', '../client/*', '../storage/*', '../auth/*'], 'transport/ knows frames, not the layers above')],
    ),
  },
  {
    files: ['src/storage/**/*.ts', 'src/auth/**/*.ts', 'src/metrics/**/*.ts'],
    rules: restrict(
      [],
      [
        layer(
          ['../server/*', '../client/*', '../../server/*', '../../client/*'],
          'a lower layer never calls up into the server or the client',
        ),
      ],
    ),
  },
  {
    files: ['src/client/**/*.ts'],
    // channel.ts (with its data streams, channel-streams.ts) and client.ts are the client's wire
    // end; options.ts takes its defaults from the protocol's; the probe speaks its own UDP packets
    // (protocol/probe.ts). Feature code (upload, download, the stall watch, folders, sync) is held
    // to the rule.
    ignores: [
      'src/client/channel.ts',
      'src/client/channel-streams.ts',
      'src/client/client.ts',
      'src/client/options.ts',
      'src/client/probe.ts',
    ],
    rules: restrict(
      [],
      [layer(['../transport/*', '../protocol/*', '!../protocol/operations.ts'], 'client features talk to the channel, not to frames')],
    ),
  },
  {
    files: ['src/server/handlers/**/*.ts'],
    rules: restrict(
      [],
      [
        layer(
          ['../session.ts', '../core.ts', '../server.ts', '../active-request.ts', '../../transport/*'],
          'handlers see the RequestContext only',
        ),
      ],
    ),
  },
);
