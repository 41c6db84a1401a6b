/**
 * The Chromium the browser tests drive through playwright-core: Debian's old headless shell
 * (package chromium-headless-shell, the same Chromium release and Blink as the package chromium)
 * when it is installed, else Debian's full chromium in headless mode.
 *
 * The shell is what playwright itself runs for headless Chromium: it has no browser UI to start,
 * and on this 2-core machine a launch, one page and a screenshot took about 1.7 s of CPU with it
 * against about 4.9 s with the full browser, for the same page. .ci/run installs both packages.
 *
 * playwright-core is loaded with `require` rather than `import`: importing a CommonJS package
 * from ESM makes Node scan its multi-megabyte bundle for export names first, about a fifth of a
 * second of CPU in each file that uses it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Playwright from 'playwright-core';

const HEADLESS_SHELL = '/usr/bin/chromium-headless-shell';
const FULL_CHROMIUM = '/usr/bin/chromium';

/** The executable the browser tests launch (undefined when neither package is installed). */
export const CHROMIUM: string | undefined = [HEADLESS_SHELL, FULL_CHROMIUM].find((path) => existsSync(path));

/** Where the tests look for Chromium, for their skip messages. */
export const CHROMIUM_PATHS = `${HEADLESS_SHELL} or ${FULL_CHROMIUM}`;

/** The flags of every launch: the latency graph's own (`--headless` is the shell's default, and harmless there). */
export { CHROMIUM_ARGS } from '../examples/perf-graph/src/png.ts';

/** playwright-core's `chromium` launcher. */
export function playwrightChromium(): typeof Playwright.chromium {
  const require = createRequire(import.meta.url);
  return (require('playwright-core') as typeof Playwright).chromium;
}
