// The console (issue 28) in a real browser: Debian's Chromium driven by playwright-core against a
// real kiln with real executions. A person signs in with a key, filters the log to a failed tool
// run, opens it and reads what it printed; another project's key sees none of it; the pages run no
// script, cannot be framed, refuse a forged form, and pass axe-core with no serious violations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, screenshot, seriousViolations, signedIn as signedInAs } from '../helpers/browser.js';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';

const OTHER_KEY = 'console-other-project-key-0123';
let kiln: TestKiln;
let browser: Browser;
let failedId: string;
let toolId: string;
let addId: string;
let timedOutId: string;
const SECRET = 'console-secret-value-7f3a9c';

beforeAll(async () => {
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},other:${OTHER_KEY}`,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  });
  const tool = await kiln.post('/v1/tools', {
    name: 'nightly_sync',
    language: 'python',
    code: 'def execute(input):\n    print("syncing", input["account"])\n    raise RuntimeError("upstream answered 503")',
  });
  toolId = tool.body.id;
  const secret = await kiln.post('/v1/secrets', { name: 'token', value: SECRET });
  const add = await kiln.post('/v1/tools', {
    name: 'add',
    language: 'python',
    input_schema: {
      type: 'object',
      properties: { a: { type: 'number', description: 'the first' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
    code: 'def execute(input):\n    return input["a"] + input["b"]',
    env: [{ name: 'TOKEN', secret_id: secret.body.id }],
  });
  addId = add.body.id;
  await kiln.post(`/v1/tools/${addId}`, { code: 'def execute(input):\n    # summed\n    return {"sum": input["a"] + input["b"]}' });
  for (let i = 0; i < 2; i++) await kiln.post('/v1/execute', { language: 'python', code: `print("fine ${i}")` });
  const slow = await kiln.post('/v1/execute', {
    language: 'python',
    code: 'import time\ntime.sleep(30)',
    limits: { execution_timeout: 1 },
  });
  timedOutId = slow.body.id ?? slow.body.execution?.id;
  const failed = await kiln.post(`/v1/tools/${toolId}/execute`, { input: { account: 'acme' } });
  failedId = failed.body.execution.id;
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await kiln?.close();
});

const signedIn = (key: string, opts: { bypassCSP?: boolean } = {}) => signedInAs(browser, kiln.url, key, opts);

describe('the console in a browser', () => {
  it('signs in with a key, filters the log to a failed tool run, opens it and shows what it printed', { timeout: 60_000 }, async () => {
    const context = await signedIn(TEST_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/executions`);
    expect(await page.locator('table.log tbody tr').count()).toBe(4); // 3 scripts (one timed out) and the failed tool run
    await screenshot(page, 'executions');
    await page.getByLabel('Outcome').selectOption('failed');
    await page.getByLabel('Tool id').fill(toolId);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/outcome=failed/);
    const rows = page.locator('table.log tbody tr');
    expect(await rows.count()).toBe(1);
    await rows.first().getByRole('link').click();
    await page.waitForURL(new RegExp(`/console/executions/${failedId}$`));
    await expect.poll(() => page.locator('h1').textContent()).toBe(failedId);
    const text = await page.locator('main').innerText();
    expect(text).toContain('syncing acme');
    expect(text).toContain('RuntimeError: upstream answered 503');
    expect(text).toContain(toolId);
    await screenshot(page, 'execution');
    // by stop reason, and by exit code
    await page.goto(`${kiln.url}/console/executions`);
    await page.getByLabel('Stop reason').selectOption('timeout');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/stop=timeout/);
    expect(await page.locator('table.log tbody tr').allInnerTexts()).toEqual([expect.stringContaining(timedOutId)]);
    await page.goto(`${kiln.url}/console/executions?exit=1`);
    expect(await page.locator('table.log tbody tr').allInnerTexts()).toEqual([expect.stringContaining(failedId)]);
    const bad = await page.goto(`${kiln.url}/console/executions?stop=lunch`);
    expect(bad?.status()).toBe(400);
    expect(await page.locator('[role=alert]').innerText()).toContain('Stop reason: lunch is not one of');
    await context.close();
  });

  it("shows another project's key none of this project's executions", { timeout: 60_000 }, async () => {
    const context = await signedIn(OTHER_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/executions`);
    expect(await page.locator('main').innerText()).toContain('No executions match.');
    const res = await page.goto(`${kiln.url}/console/executions/${failedId}`);
    expect(res?.status()).toBe(404);
    expect(await page.locator('main').innerText()).not.toContain('syncing acme');
    await context.close();
  });

  it('runs no injected script, cannot be framed, refuses forged forms and bad keys, and signs out', { timeout: 60_000 }, async () => {
    const context = await signedIn(TEST_KEY);
    const page = await context.newPage();
    const res = await page.goto(`${kiln.url}/console/executions`);
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res?.headers()['x-frame-options']).toBe('DENY');
    // the browser holds to the CSP: an injected inline script does not run
    await page.addScriptTag({ content: 'window.__injected = 1' }).catch(() => {});
    expect(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined();
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'kiln-console')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // a form posted from elsewhere: no cookie of the console's, no token
    const forged = await fetch(`${kiln.url}/console/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://attacker.test' },
      body: new URLSearchParams({ key: TEST_KEY, csrf: 'x' }),
      redirect: 'manual',
    });
    expect(forged.status).toBe(403);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/sign-in/);
    await page.goto(`${kiln.url}/console/executions`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.getByLabel('API key').fill('not-a-key-of-this-kiln');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.locator('[role=alert]').innerText()).toContain('not a kiln key');
    await screenshot(page, 'sign-in-refused');
    await context.close();
  });

  it('passes axe-core with no serious violations on every page', { timeout: 60_000 }, async () => {
    const context = await signedIn(TEST_KEY, { bypassCSP: true });
    const page = await context.newPage();
    for (const path of [
      '/console/executions',
      `/console/executions/${failedId}`,
      '/console/executions?outcome=bogus',
      '/console/tools',
      `/console/tools/${addId}`,
      '/console/secrets',
    ]) {
      await page.goto(kiln.url + path);
      expect(await seriousViolations(page), path).toEqual([]);
    }
    await context.clearCookies();
    await page.goto(`${kiln.url}/console/sign-in`);
    expect(await seriousViolations(page), 'sign-in').toEqual([]);
    await context.close();
  });

  it("shows a tool's bindings by name, diffs two revisions, and runs it from its form", { timeout: 60_000 }, async () => {
    const context = await signedIn(TEST_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/tools`);
    await page.getByRole('link', { name: 'add' }).click();
    await page.waitForURL(new RegExp(`/console/tools/${addId}$`));
    const text = await page.locator('main').innerText();
    expect(text).toContain('env TOKEN: secret secret_');
    expect(await page.content()).not.toContain(SECRET);
    await page.getByRole('button', { name: 'Show the diff' }).click();
    await page.waitForURL(/a=rev_/);
    expect(await page.locator('ins').innerText()).toContain('+     # summed');
    expect(await page.locator('del').innerText()).toContain('-     return input["a"] + input["b"]');
    await page.getByLabel('a (required)').fill('40');
    await page.getByLabel('b (required)').fill('2');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.locator('[role=status] pre').innerText()).toBe('{"sum":42}');
    await screenshot(page, 'tool');
    // the run is in the log, named for the key that signed in
    await page.getByRole('link', { name: 'The execution' }).click();
    expect(await page.locator('main').innerText()).toContain('env');
    await context.close();
  });

  it('lists secrets by name, rotates one write-only, deletes one, and refuses a key without manage', { timeout: 60_000 }, async () => {
    await kiln.post('/v1/secrets', { name: 'doomed', value: 'doomed-value-1234' });
    const readOnly = (await kiln.post('/v1/keys', { name: 'reader', scopes: ['read'] })).body as { secret: string };
    const context = await signedIn(TEST_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/secrets`);
    expect(await page.locator('main').innerText()).toContain('token');
    expect(await page.content()).not.toContain(SECRET);
    const rotated = 'console-rotated-value-9b2e';
    await page.getByLabel('New value of token').fill(rotated);
    await page.locator('tr', { hasText: 'token' }).getByRole('button', { name: 'Rotate' }).click();
    await expect.poll(() => page.locator('[role=status]').innerText()).toContain('token has a new value');
    expect(await page.content()).not.toContain(rotated);
    await page.getByRole('button', { name: 'Delete doomed' }).click();
    await expect.poll(() => page.locator('[role=status]').innerText()).toContain('deleted');
    expect(await page.locator('main').innerText()).not.toContain('doomed');
    await screenshot(page, 'secrets');
    await context.close();

    const reader = await signedIn(readOnly.secret);
    const p2 = await reader.newPage();
    await p2.goto(`${kiln.url}/console/secrets`);
    await p2.getByLabel('New value of token').fill('nope-nope-nope');
    await p2.locator('tr', { hasText: 'token' }).getByRole('button', { name: 'Rotate' }).click();
    await expect.poll(() => p2.locator('[role=alert]').innerText()).toContain('lacks the manage scope');
    await reader.close();
  });
});
