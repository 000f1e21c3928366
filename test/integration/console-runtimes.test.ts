// The console's runtimes (issue 28) in Debian's Chromium: a build followed as it runs — its log
// grows on the open page while pip waits on a package the test holds back, and the page turns to
// `succeeded` without a reload once it is let go — a second project's key sees none of it, and
// axe-core finds no serious violation on the runtimes' pages.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot, seriousViolations, signedIn } from '../helpers/browser.js';
import { removeTestImages, startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { type PackageSource, startPythonIndex } from '../helpers/package-sources.js';

const OTHER_KEY = 'console-runtimes-other-project-0123';
let kiln: TestKiln;
let py: PackageSource;
let browser: Browser;
let release!: () => void;
let runtime: { id: string; revision_id: string };

beforeAll(async () => {
  py = await startPythonIndex([{ name: 'slowpkg', version: '1.0.0', files: { 'slowpkg/__init__.py': 'VALUE = 7\n' } }], {
    hold: new Promise<void>((resolve) => (release = resolve)),
  });
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},other:${OTHER_KEY}`,
    KILN_PIP_INDEX_URL: py.url,
    KILN_BUILD_TIMEOUT_SECONDS: '120',
    KILN_POOL_PYTHON: '0',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  });
  const res = await kiln.post('/v1/runtimes', {
    name: 'slow',
    language: 'python',
    manifest_file: { name: 'requirements.txt', contents: 'slowpkg==1.0.0\n' },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  runtime = res.body;
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  release?.();
  await browser?.close();
  await kiln?.close();
  await py?.close();
  await removeTestImages();
});

describe("the console's runtimes", () => {
  it('follows a running build: the log grows on the open page, and its end shows without a reload', { timeout: 150_000 }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/runtimes`);
    await page.getByRole('link', { name: 'slow' }).click();
    await page.getByRole('link', { name: runtime.revision_id }).click();
    await page.waitForURL(new RegExp(`/revisions/${runtime.revision_id}$`));
    // marks this document: a reload would lose it
    await page.evaluate(() => {
      document.body.dataset.kept = 'yes';
    });
    const log = page.getByRole('log');
    // pip has read the index and waits on the file the test holds: its words are on the page already
    await expect.poll(() => log.innerText(), { timeout: 90_000 }).toContain('Collecting slowpkg==1.0.0');
    expect(await page.locator('#build-status').innerText()).toBe('building');
    await screenshot(page, 'build-running');
    release();
    await expect.poll(() => page.locator('#build-status').innerText(), { timeout: 90_000 }).toBe('succeeded');
    expect(await log.innerText()).toContain('Successfully installed slowpkg-1.0.0');
    expect(await page.evaluate(() => document.body.dataset.kept)).toBe('yes');
    await screenshot(page, 'build-done');
    // read again, the page shows the stored log and no stream
    await page.reload();
    expect(await log.innerText()).toContain('Successfully installed slowpkg-1.0.0');
    expect(await log.getAttribute('data-follow')).toBeNull();
    await context.close();
  });

  it("shows another project's key none of this project's runtimes, builds or logs", { timeout: 60_000 }, async () => {
    const context = await signedIn(browser, kiln.url, OTHER_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/runtimes`);
    expect(await page.locator('main').innerText()).toContain('no custom runtimes');
    for (const path of [
      `/console/runtimes/${runtime.id}`,
      `/console/runtimes/${runtime.id}/revisions/${runtime.revision_id}`,
      `/console/runtimes/${runtime.id}/revisions/${runtime.revision_id}/log`,
    ]) {
      const res = await page.goto(kiln.url + path);
      expect(res?.status(), path).toBe(404);
      const text = await page.locator('body').innerText();
      expect(text, path).toContain('not found');
      expect(text, path).not.toContain('slowpkg');
    }
    await context.close();
  });

  it('passes axe-core with no serious violations on the runtimes pages', { timeout: 60_000 }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY, { bypassCSP: true });
    const page = await context.newPage();
    for (const path of [
      '/console/runtimes',
      `/console/runtimes/${runtime.id}`,
      `/console/runtimes/${runtime.id}/revisions/${runtime.revision_id}`,
    ]) {
      await page.goto(kiln.url + path);
      expect(await seriousViolations(page), path).toEqual([]);
    }
    await context.close();
  });
});
