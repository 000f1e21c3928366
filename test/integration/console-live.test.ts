// The console's sessions and async invocations (issue 28) in Debian's Chromium, against real boxes:
// the lists stay current on an open page (a session made, an invocation ended, without a reload);
// a session's files are listed and downloaded; a session is ended and an invocation cancelled from
// their rows; a read-only key is refused with pages (not JSON); a second project's key sees none of
// it; axe-core finds no serious violation.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot, seriousViolations, signedIn } from '../helpers/browser.js';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const OTHER_KEY = 'console-live-other-project-0123';
let kiln: TestKiln;
let browser: Browser;
let hooks: WebhookReceiver;
let reader: string;
let session: string;

const asyncRun = async (code: string, callback = false) => {
  const res = await fetch(`${kiln.url}/v1/execute`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', prefer: 'respond-async' },
    body: JSON.stringify({ language: 'python', code, ...(callback ? { callback_url: `http://127.0.0.1:${hooks.port}/hook` } : {}) }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
};
/** Marks the page's document: a reload would lose the mark. */
const mark = (page: import('playwright-core').Page) =>
  page.evaluate(() => {
    document.body.dataset.kept = 'yes';
  });
const kept = (page: import('playwright-core').Page) => page.evaluate(() => document.body.dataset.kept);

beforeAll(async () => {
  hooks = await startWebhookReceiver();
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},other:${OTHER_KEY}`,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_WEBHOOK_ALLOW_ADDRESSES: `127.0.0.1:${hooks.port}`,
  });
  const s = await kiln.request('POST', '/v1/sessions', { language: 'python' });
  expect(s.status, JSON.stringify(s.body)).toBe(200);
  session = s.body.id;
  const made = await kiln.request('POST', `/v1/sessions/${session}/execute`, {
    code: 'import os\nos.makedirs("out", exist_ok=True)\nopen("out/report.txt", "w").write("made in the session\\n")\nopen("page.html", "w").write("<script>alert(1)</script>")',
  });
  expect(made.body.error, JSON.stringify(made.body)).toBeNull();
  reader = ((await kiln.post('/v1/keys', { name: 'reader', scopes: ['read'] })).body as { secret: string }).secret;
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await kiln?.close();
  hooks?.close();
});

describe("the console's sessions and invocations", () => {
  it("lists sessions live, shows a session's files, downloads one, and ends a session", { timeout: 90_000 }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/sessions?status=running`);
    await mark(page);
    expect(await page.locator('main').innerText()).toContain(session);
    // a session made while the page is open shows in it
    const second = (await kiln.request('POST', '/v1/sessions', { language: 'python' })).body.id as string;
    await expect.poll(() => page.locator('main').innerText(), { timeout: 20_000 }).toContain(second);
    expect(await kept(page)).toBe('yes');
    await screenshot(page, 'sessions');

    await page.getByRole('link', { name: session }).click();
    await page.getByRole('link', { name: 'out/' }).click();
    await page.waitForURL(/path=out/);
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'report.txt' }).click();
    const file = await download;
    const chunks: Buffer[] = [];
    for await (const chunk of (await file.createReadStream())!) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('made in the session\n');
    // a file a program wrote is never a page of kiln's origin
    const html = await fetch(`${kiln.url}/console/sessions/${session}/file?path=page.html`, {
      headers: { cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') },
    });
    expect(html.headers.get('content-type')).toBe('application/octet-stream');
    expect(html.headers.get('content-disposition')).toMatch(/^attachment;/);
    await page.goto(`${kiln.url}/console/sessions/${session}`);
    await screenshot(page, 'session');

    await page.goto(`${kiln.url}/console/sessions?status=running`);
    await page.getByRole('button', { name: `End ${second}` }).click();
    await expect.poll(() => page.locator('[role=status]').innerText()).toContain(`Session ${second} ended`);
    expect((await kiln.request('GET', `/v1/sessions/${second}`)).body.status).toBe('ended');
    await context.close();
  });

  it('lists invocations live, with their webhooks, and cancels a running one from its row', { timeout: 90_000 }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY);
    const page = await context.newPage();
    const quick = await asyncRun('print("done")', true);
    const slow = await asyncRun('import time\ntime.sleep(60)');
    await page.goto(`${kiln.url}/console/invocations`);
    await mark(page);
    const row = (id: string) => page.locator('tr', { hasText: id });
    await expect.poll(() => row(quick).innerText(), { timeout: 30_000 }).toMatch(/finished.*delivered, 1 try/s);
    await expect.poll(() => row(slow).innerText(), { timeout: 30_000 }).toContain('running');
    // one accepted while the page is open shows in it, and its end too
    const later = await asyncRun('print("later")');
    await expect.poll(() => row(later).innerText(), { timeout: 30_000 }).toContain('finished');
    expect(await kept(page)).toBe('yes');
    await screenshot(page, 'invocations');
    await page.getByRole('button', { name: `Cancel ${slow}` }).click();
    await expect.poll(() => page.locator('[role=status]').innerText()).toContain(`Invocation ${slow} is`);
    await expect.poll(async () => (await kiln.request('GET', `/v1/executions/${slow}`)).body.status, { timeout: 30_000 }).toBe('cancelled');
    await context.close();
  });

  it('refuses a read-only key with pages, not JSON, and shows it no files', { timeout: 60_000 }, async () => {
    const context = await signedIn(browser, kiln.url, reader);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/sessions/${session}`);
    expect(await page.locator('main').innerText()).toContain('needs the run scope');
    expect(await page.locator('main').innerText()).not.toContain('report.txt');
    const res = await page.goto(`${kiln.url}/console/sessions/${session}/file?path=out/report.txt`);
    expect(res?.status()).toBe(403);
    expect(res?.headers()['content-type']).toMatch(/^text\/html/);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await page.locator('[role=alert]').innerText()).toMatch(/scope/);
    await page.goto(`${kiln.url}/console/sessions?status=running`);
    await page.getByRole('button', { name: `End ${session}` }).click();
    await expect.poll(() => page.locator('[role=alert]').innerText()).toContain('needs the run scope');
    expect((await kiln.request('GET', `/v1/sessions/${session}`)).body.status).toBe('running');
    await context.close();
  });

  it("shows another project's key none of this project's sessions, files or invocations", { timeout: 60_000 }, async () => {
    const context = await signedIn(browser, kiln.url, OTHER_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/sessions`);
    expect(await page.locator('main').innerText()).toContain('No sessions');
    await page.goto(`${kiln.url}/console/invocations`);
    expect(await page.locator('main').innerText()).toContain('No async invocations');
    for (const path of [`/console/sessions/${session}`, `/console/sessions/${session}/file?path=out/report.txt`]) {
      const res = await page.goto(kiln.url + path);
      expect(res?.status(), path).toBe(404);
      expect(await page.locator('body').innerText(), path).not.toContain('made in the session');
    }
    await page.goto(`${kiln.url}/console/sessions`);
    // a forged end of the first project's session, with this key's own token: not found, still running
    const token = await page.locator('form[action="/console/sign-out"] input[name=csrf]').getAttribute('value');
    const ended = await page.request.post(`${kiln.url}/console/sessions/${session}/end`, { form: { csrf: token! } });
    expect(ended.status()).toBe(404);
    expect((await kiln.request('GET', `/v1/sessions/${session}`)).body.status).toBe('running');
    await context.close();
  });

  it('charts health from the last hour and follows it while open; a read key, and a tenant admin key, are refused', {
    timeout: 90_000,
  }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY);
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/health`);
    await mark(page);
    const looks = async () => Number(/(\d+) looks/.exec(await page.locator('main').innerText())?.[1] ?? 0);
    const before = await looks();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) await kiln.post('/v1/execute', { language: 'python', code: 'print(1)' });
    // a look every 10 s, and the page fetches the charts again every 10 s
    await expect.poll(looks, { timeout: 45_000, interval: 1000 }).toBeGreaterThan(before);
    expect(await kept(page)).toBe('yes');
    for (const name of ['Warm pool', 'Slots', 'Executions', 'Latency', 'Refused at capacity', 'Runtime builds'])
      await expect.poll(() => page.getByRole('img', { name: new RegExp(`^${name}, last hour:`) }).count()).toBe(1);
    expect(await page.getByRole('img', { name: /^Warm pool, last hour: python now/ }).count()).toBe(1);
    expect(await page.locator('svg.chart polyline').count()).toBeGreaterThanOrEqual(6);
    await screenshot(page, 'health');
    await context.close();

    // a read key of the operator's project, and an admin key of another project (a tenant): refused
    for (const [key, why] of [
      [reader, 'admin'],
      [OTHER_KEY, 'KILN_OPERATOR_PROJECTS'],
    ] as const) {
      const other = await signedIn(browser, kiln.url, key);
      const p2 = await other.newPage();
      const res = await p2.goto(`${kiln.url}/console/health`);
      expect(res?.status()).toBe(403);
      expect(await p2.locator('[role=alert]').innerText()).toContain(why);
      expect(await p2.locator('main').innerText()).not.toContain('Warm pool');
      await other.close();
    }
  });

  it('fits a phone: no page is wider than the screen', { timeout: 60_000 }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY);
    const page = await context.newPage();
    await page.setViewportSize({ width: 375, height: 740 });
    const [run] = (await kiln.request('GET', '/v1/executions?limit=1')).body.data as { id: string }[];
    for (const path of [
      `/console/executions/${run!.id}`,
      '/console/executions',
      '/console/sessions',
      `/console/sessions/${session}`,
      '/console/invocations',
      '/console/health',
      '/console/tools',
      '/console/secrets',
      '/console/runtimes',
    ]) {
      await page.goto(kiln.url + path);
      const [wide, screen] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      expect(wide, path).toBeLessThanOrEqual(screen! + 1);
    }
    await page.goto(`${kiln.url}/console/sessions`);
    await screenshot(page, 'sessions-phone');
    await context.close();
  });

  it('passes axe-core with no serious violations on the sessions, invocations and health pages', { timeout: 60_000 }, async () => {
    const context = await signedIn(browser, kiln.url, TEST_KEY, { bypassCSP: true });
    const page = await context.newPage();
    for (const path of [
      '/console/sessions',
      `/console/sessions/${session}`,
      `/console/sessions/${session}?path=out`,
      '/console/invocations',
    ]) {
      await page.goto(kiln.url + path);
      expect(await seriousViolations(page), path).toEqual([]);
    }
    await context.close();
  });
});
