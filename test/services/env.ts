/**
 * The external services some tests need (a real S3 API, PostgreSQL), as .ci/run starts them
 * (scripts/services/*.sh; see docs/scaling.md). Their settings come from the environment:
 * FILESHARE_TEST_S3_ENDPOINT / _REGION / _ACCESS_KEY / _SECRET_KEY and FILESHARE_TEST_PG_URL.
 * Outside CI a test file whose service is absent is skipped with a message; in CI (CI=true) that
 * is a failure, so a broken service start can never pass as green.
 *
 * The helpers that talk to S3 are in ./s3.ts: the S3 SDK is half a second of CPU to load, which
 * the PostgreSQL tests, importing only this file, do not pay.
 */
import { suite } from 'uvu';

/** Connection settings of the test S3 API. */
export interface S3Settings {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
}

/** The test S3 API, or undefined when FILESHARE_TEST_S3_ENDPOINT is not set. */
export function s3Settings(): S3Settings | undefined {
  const endpoint = process.env.FILESHARE_TEST_S3_ENDPOINT;
  if (!endpoint) return undefined;
  return {
    endpoint,
    region: process.env.FILESHARE_TEST_S3_REGION ?? 'us-east-1',
    credentials: {
      accessKeyId: process.env.FILESHARE_TEST_S3_ACCESS_KEY ?? '',
      secretAccessKey: process.env.FILESHARE_TEST_S3_SECRET_KEY ?? '',
    },
  };
}

/** The test PostgreSQL URL, or undefined when FILESHARE_TEST_PG_URL is not set. */
export function pgUrl(): string | undefined {
  return process.env.FILESHARE_TEST_PG_URL || undefined;
}

/**
 * Call when a service a test file needs is absent: outside CI, say so and skip; in CI, register a
 * failing test. Returns true when the caller must not register its tests.
 */
export function missingService(name: 'S3' | 'PostgreSQL', file: string): boolean {
  const message = `${name} is not available (start it with scripts/services/${name === 'S3' ? 'ceph-rgw' : 'postgres'}.sh start DIR and export DIR/env)`;
  if (process.env.CI === 'true') {
    const missing = suite(`${name} service`);
    missing(`${file}: ${name} must be available in CI`, () => {
      throw new Error(message);
    });
    missing.run();
  } else {
    console.log(`  skipped ${file}: ${message}`);
  }
  return true;
}
