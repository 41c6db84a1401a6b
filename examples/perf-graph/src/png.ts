/** `--png FILE`: the SVG chart rendered by headless Chromium (playwright-core) and saved as PNG. */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** Render `svg` (width × height) to a PNG file. Throws a readable Error when Chromium is missing or fails. */
export async function renderPng(
  svg: string,
  file: string,
  size: { width: number; height: number },
  executablePath = '/usr/bin/chromium',
): Promise<void> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `cannot write ${file}: Chromium not found at ${executablePath} (install it, e.g. apt install chromium, or pass --chromium PATH)`,
    );
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error(`cannot write ${file}: playwright-core is not installed`);
  }
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 30_000 });
  try {
    const page = await browser.newPage({ viewport: size });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`, { timeout: 10_000 });
    const png = await page.locator('svg').first().screenshot({ timeout: 10_000 });
    await writeFile(file, png);
  } finally {
    await browser.close();
  }
}
