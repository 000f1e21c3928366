// Signing in to the console through kiln's own authorization server (issue 28 with issue 26's
// server), in Debian's Chromium: the console sends the person to the consent page, where a one-time
// code from the CLI (no key in the browser) grants this browser read alone; the console then reads
// and refuses to run; the access token runs out and is refreshed unseen; signing out revokes the
// grant; a callback this browser did not start is refused; a declined consent grants nothing.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshot, seriousViolations } from '../helpers/browser.js';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';
import { POSTGRES_MODE, postgresEnvFor } from '../helpers/postgres.js';

let kiln: TestKiln;
let browser: Browser;
let dataDir: string;
let toolId: string;

/** A one-time consent code for the default project, as an operator gets one. */
async function oneTimeCode(): Promise<string> {
  const cli = await promisify(execFile)('npx', ['tsx', 'src/cli.ts', 'oauth', 'code', '--project', 'default'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, KILN_DATA_DIR: dataDir, ...(POSTGRES_MODE ? await postgresEnvFor(dataDir) : {}) },
  });
  return cli.stdout.trim();
}

/** From the sign-in page through the consent page, granting `scopes` with `credential`. */
async function throughConsent(page: Page, credential: string, scopes: string[], decision: 'Allow' | 'Deny' = 'Allow') {
  await page.goto(`${kiln.url}/console/tools`);
  await page.getByRole('button', { name: 'Sign in with OAuth' }).click();
  await page.waitForURL(/\/oauth\/authorize\?/);
  expect(await page.locator('body').innerText()).toContain('kiln console');
  for (const s of ['read', 'run', 'manage', 'admin'])
    await page.locator(`input[name=grant_scope][value=${s}]`).setChecked(scopes.includes(s));
  await page.getByLabel('A kiln key with the admin scope, or a one-time code').fill(credential);
  await page.getByRole('button', { name: decision }).click();
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'kiln-console-oauth-'));
  kiln = await startTestKiln({
    KILN_DATA_DIR: dataDir,
    KILN_OAUTH_SERVER: 'true',
    KILN_OAUTH_ACCESS_TOKEN_SECONDS: '2',
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  });
  const tool = await kiln.post('/v1/tools', { name: 'add', language: 'python', code: 'def execute(input):\n    return 1' });
  toolId = tool.body.id;
  browser = await launchChromium();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await kiln?.close();
});

describe('the console signed in through the consent page', () => {
  it('grants read alone with a one-time code, refreshes unseen, refuses to run, and revokes at sign-out', { timeout: 90_000 }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await throughConsent(page, await oneTimeCode(), ['read']);
    await page.waitForURL(/\/console\/tools$/);
    expect(await page.locator('header').innerText()).toContain('oauth:kiln console');
    expect(await page.locator('main').innerText()).toContain('add');
    await screenshot(page, 'signed-in-by-oauth');
    // no key in the browser: only the sealed cookie, which names nothing
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.value).join(' ')).not.toMatch(/kat_|krt_|koc_/);
    // the access token (2 s) runs out; the next page refreshes it and reads on
    await new Promise((r) => setTimeout(r, 3000));
    const again = await page.goto(`${kiln.url}/console/tools/${toolId}`);
    expect(again?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe(`/console/tools/${toolId}`);
    // read was granted, not run: the run form is refused with a page
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.locator('[role=alert]').innerText()).toMatch(/run/);
    expect((await kiln.request('GET', '/v1/executions')).body.data).toEqual([]);
    // signing out revokes the grant: the cookie kept from before signs no one in
    const kept = await context.cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/sign-in/);
    await context.addCookies(kept);
    await new Promise((r) => setTimeout(r, 2500)); // past the access token's life, so its refresh is what is tried
    await page.goto(`${kiln.url}/console/tools`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await context.close();
  });

  it('refuses a callback this browser did not start, a state not its own, a code sent elsewhere, and a declined consent', {
    timeout: 60_000,
  }, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const forged = await page.goto(`${kiln.url}/console/oauth/callback?code=koa_x&state=made-up`);
    expect(forged?.status()).toBe(400);
    expect(await page.locator('[role=alert]').innerText()).toContain('not started here');
    // a flow this browser started, answered with a state not its own (in characters of any width): a page, not an error
    await page.goto(`${kiln.url}/console/oauth/start`);
    const odd = await page.goto(
      `${kiln.url}/console/oauth/callback?code=koa_x&state=${encodeURIComponent('é'.repeat(22))}&iss=${encodeURIComponent(kiln.url)}`,
    );
    expect(odd?.status()).toBe(400);
    // the console's client sends codes to the console's callback alone: not to another port of this host
    const elsewhere = new URL(kiln.url);
    elsewhere.port = String(Number(elsewhere.port) + 1);
    const other = await fetch(
      `${kiln.url}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: 'kiln-console',
        redirect_uri: `${elsewhere.origin}/console/oauth/callback`,
        code_challenge: 'A'.repeat(43),
        code_challenge_method: 'S256',
      })}`,
      { redirect: 'manual' },
    );
    expect(other.status).toBe(400);
    expect(await other.text()).toContain('redirect_uri: not one the client registered');
    await throughConsent(page, await oneTimeCode(), ['read'], 'Deny');
    await page.waitForURL(/\/console\/oauth\/callback/);
    expect(await page.locator('[role=alert]').innerText()).toContain('declined');
    await page.goto(`${kiln.url}/console/tools`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await context.close();
  });

  it('passes axe-core on the sign-in page that offers both ways', { timeout: 30_000 }, async () => {
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.goto(`${kiln.url}/console/sign-in`);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });
});
