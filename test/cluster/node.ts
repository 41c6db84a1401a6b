// @test-process: a node of two-nodes.test.ts
/**
 * One stateless fileshare node of the two-node test, as its own process (so that it can be
 * SIGKILLed): an S3Storage over the given bucket; users, the login throttle, quota reservations and
 * resume locks in PostgreSQL.
 * Settings come as one JSON argument; it prints `{"port": N}` once listening.
 */
import { FileShareServer } from '../../src/index.ts';
import { PostgresAuthProvider, PostgresSharedState } from '../../src/postgres/index.ts';
import { S3Storage } from '../../src/storage/s3/index.ts';

interface NodeSettings {
  s3: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  bucket: string;
  pgUrl: string;
  schema: string;
  /** The session-resumption key every node shares (tokens of one node are valid on all). */
  resumeKey: string;
}

const settings = JSON.parse(process.argv[2] ?? '{}') as NodeSettings;
const storage = new S3Storage({ bucket: settings.bucket, ...settings.s3, partSize: 5 * 1024 * 1024, resumeLockTtl: 2000 });
const auth = new PostgresAuthProvider({ pool: settings.pgUrl, schema: settings.schema });
// a lease of 6 s: long enough that the test, which stops A (SIGSTOP), asks B within it on a loaded
// machine; short enough that B takes over soon after A is killed
const shared = new PostgresSharedState({ pool: settings.pgUrl, schema: settings.schema, leaseTtl: 6000 });
const server = new FileShareServer({
  root: storage,
  auth,
  sharedState: shared,
  host: '127.0.0.1',
  port: 0,
  progressIntervalMs: 0,
  loginThrottle: { freeAttempts: 3, baseDelayMs: 60_000 },
  resumption: { key: settings.resumeKey },
});
server.on('error', (err) => console.error(`node error: ${err.message}`));
const { port } = await server.listen();
process.stdout.write(`${JSON.stringify({ port })}\n`);
const stop = async () => {
  await server.close();
  await shared.close();
  storage.client.destroy();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
