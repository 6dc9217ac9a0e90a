/** Debian's headless Chromium for the page tests (report, demo), driven by playwright-core: no browser download. */
import type { ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A headless browser closed after the test; fails the test when Debian's chromium is missing. */
export async function launchChromium(t: ExecutionContext): Promise<Browser> {
  t.true(existsSync(CHROMIUM), `${CHROMIUM} is missing (Debian's chromium; .ci/run installs it)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // No network of its own (updates, sync): whatever a page requests is the page's doing.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.teardown(() => browser.close());
  return browser;
}
