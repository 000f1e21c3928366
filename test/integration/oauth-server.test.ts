// kiln's own OAuth 2.1 authorization server (issue 26), as a connector meets it: the MCP SDK's
// client finds it from /mcp's 401 (RFC 9728, RFC 8414), registers (RFC 7591), sends a person to the
// consent page (driven here over HTTP, as a browser with JavaScript off), finishes with PKCE, and
// lists and calls tools with the token. Then what must be refused is: a reused code or refresh
// token (and the grant with it), a revoked grant, a forged or framed consent, a redirect URI the
// client did not register, a key without admin, bursts past the rate limit.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { openConsent, submitConsent, TestOAuthProvider } from '../helpers/oauth-client.js';
import { POSTGRES_MODE, postgresEnvFor } from '../helpers/postgres.js';
import { expectStoredNowhere } from '../helpers/secret-scan.js';

let kiln: TestKiln;
let dataDir: string;
let documents: Server;
let documentsUrl: string;
const REDIRECT = 'http://127.0.0.1:9/callback';

beforeAll(async () => {
  // a client's metadata document (a client id that is a URL), served on loopback
  documents = createServer((req, res) => {
    const id = `${documentsUrl}${req.url}`;
    res.setHeader('content-type', 'application/json');
    if (req.url === '/connector.json') res.end(JSON.stringify({ client_id: id, client_name: 'Doc Connector', redirect_uris: [REDIRECT] }));
    else if (req.url === '/liar.json') res.end(JSON.stringify({ client_id: 'https://elsewhere.test/x.json', redirect_uris: [REDIRECT] }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => documents.listen(0, '127.0.0.1', () => r()));
  documentsUrl = `http://127.0.0.1:${(documents.address() as AddressInfo).port}`;
  dataDir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'kiln-oauth-'));
  kiln = await startTestKiln({
    KILN_DATA_DIR: dataDir,
    KILN_OAUTH_SERVER: 'true',
    KILN_OAUTH_RATE_PER_MINUTE: '80',
    KILN_OAUTH_CLIENT_ALLOW_HTTP: 'true',
    KILN_OAUTH_CLIENT_ALLOW_ADDRESSES: '127.0.0.1',
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  });
}, 60_000);
afterAll(async () => {
  await kiln?.close();
  documents?.close();
});

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields),
});
const token = (fields: Record<string, string>) => fetch(`${kiln.url}/oauth/token`, form(fields));
const withToken = (path: string, access: string, init: RequestInit = {}) =>
  fetch(kiln.url + path, { ...init, headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json' } });

/** The MCP SDK's connector flow up to the consent page: discovery from /mcp's 401, registration, the authorization URL. */
async function connectorTo(metadata: Record<string, unknown> = {}, clientMetadataUrl?: string) {
  const provider = new TestOAuthProvider(
    REDIRECT,
    {
      client_name: 'Test Connector',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...metadata,
    },
    clientMetadataUrl,
  );
  const transport = new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { authProvider: provider });
  const client = new Client({ name: 'oauth-connector', version: '1' });
  await expect(client.connect(transport)).rejects.toThrow(/unauthorized/i);
  expect(provider.authorizationUrl?.origin).toBe(kiln.url);
  return { provider, transport };
}

/** The person allows it on the consent page; the code and state the client is sent back with. */
async function consent(url: URL, fill: Parameters<typeof submitConsent>[2]) {
  const page = await openConsent(url);
  expect(page.res.status).toBe(200);
  const answer = await submitConsent(page, kiln.url, fill);
  expect(answer.status).toBe(303);
  const back = new URL(answer.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
  expect(back.searchParams.get('state')).toBe(url.searchParams.get('state'));
  expect(back.searchParams.get('iss')).toBe(kiln.url);
  return back.searchParams.get('code')!;
}

async function mcpWith(provider: TestOAuthProvider) {
  const client = new Client({ name: 'oauth-connector', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { authProvider: provider }));
  return client;
}

describe("kiln's own authorization server, with the MCP SDK's OAuth client", () => {
  it('discovers, registers, is consented with an admin key, and lists and calls tools with the token', { timeout: 90_000 }, async () => {
    const { provider, transport } = await connectorTo();
    const asked = provider.authorizationUrl!;
    expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
    expect(asked.searchParams.get('resource')).toBe(`${kiln.url}/mcp`);
    expect(asked.searchParams.get('scope')).toBe('run read'); // from the 401's challenge, not every scope there is
    const code = await consent(asked, { credential: TEST_KEY });
    await transport.finishAuth(code);
    const access = provider.saved!.access_token;
    expect(access).toMatch(/^kat_/);
    expect(provider.saved).toMatchObject({ token_type: 'Bearer', scope: 'run read' });

    const client = await mcpWith(provider);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('execute_python');
      const ran = await client.callTool({ name: 'execute_python', arguments: { code: 'print("through oauth")' } });
      expect(JSON.stringify(ran.content)).toContain('through oauth');
    } finally {
      await client.close();
    }
    // run and read, nothing more: no tool may be made; the log names the client
    expect((await withToken('/v1/tools', access, { method: 'POST', body: '{}' })).status).toBe(403);
    const log = (await (await withToken('/v1/executions?limit=5', access)).json()) as { data: { details: { key?: { name: string } } }[] };
    expect(log.data.some((e) => e.details.key?.name === 'oauth:Test Connector')).toBe(true);

    // the refresh token rotates: the new pair works, the spent one is refused and ends the grant
    const clientId = provider.client!.client_id;
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: provider.saved!.refresh_token!, client_id: clientId });
    expect(refreshed.status).toBe(200);
    const pair = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(pair.refresh_token).not.toBe(provider.saved!.refresh_token);
    expect((await withToken('/v1/tools', pair.access_token)).status).toBe(200);
    const reused = await token({ grant_type: 'refresh_token', refresh_token: provider.saved!.refresh_token!, client_id: clientId });
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await withToken('/v1/tools', pair.access_token)).status).toBe(401);
    expect((await withToken('/v1/tools', access)).status).toBe(401);
  });

  it('takes a one-time code from the CLI, limits a confidential client to one tool, and revokes', { timeout: 90_000 }, async () => {
    const made = await kiln.post('/v1/tools', { name: 'only_this', language: 'python', code: 'def execute(input):\n    return {"ok": 1}' });
    await kiln.post('/v1/tools', { name: 'not_this', language: 'python', code: 'def execute(input):\n    return {"ok": 2}' });
    const toolId = (made.body as { id: string }).id;
    const cli = await promisify(execFile)('npx', ['tsx', 'src/cli.ts', 'oauth', 'code', '--project', 'default'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, KILN_DATA_DIR: dataDir, ...(POSTGRES_MODE ? await postgresEnvFor(dataDir) : {}) },
    });
    const oneTime = cli.stdout.trim();
    expect(oneTime).toMatch(/^koc_/);

    const { provider, transport } = await connectorTo({ token_endpoint_auth_method: 'client_secret_basic' });
    expect(provider.client).toMatchObject({ client_secret: expect.any(String) });
    const code = await consent(provider.authorizationUrl!, { credential: oneTime, scopes: ['read'], tools: toolId });
    await transport.finishAuth(code);
    expect(provider.saved!.scope).toBe(`read tools:${toolId}`);
    const client = await mcpWith(provider);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['only_this']);
    } finally {
      await client.close();
    }
    // a refresh that asks for less keeps the tool limit: leaving it out never lifts it
    const basicAuth = `Basic ${Buffer.from(`${provider.client!.client_id}:${(provider.client as { client_secret: string }).client_secret}`).toString('base64')}`;
    const narrowed = await fetch(`${kiln.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: provider.saved!.refresh_token!, scope: 'read' }),
    });
    const narrow = (await narrowed.json()) as { access_token: string; scope: string };
    expect(narrow.scope).toBe(`read tools:${toolId}`);
    const asCode = await fetch(`${kiln.url}/v1/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${narrow.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python', code: 'print(1)' }),
    });
    expect(asCode.status).toBe(403);
    // spent: the same code does not consent twice
    const again = await openConsent(provider.authorizationUrl!);
    const refused = await submitConsent(again, kiln.url, { credential: oneTime });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('not a kiln key with the admin scope');

    // revoked (RFC 7009) with the client's own credentials: the access token is refused at once
    const { client_id, client_secret } = provider.client as { client_id: string; client_secret: string };
    const basic = `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`;
    const revoke = await fetch(`${kiln.url}/oauth/revoke`, {
      ...form({ token: provider.saved!.access_token }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
    });
    expect(revoke.status).toBe(200);
    expect((await withToken('/v1/tools', provider.saved!.access_token)).status).toBe(401);
    // kept as hashes only: no token, code or client secret is in the database in clear
    for (const secret of [provider.saved!.access_token, provider.saved!.refresh_token!, client_secret, oneTime, code])
      await expectStoredNowhere(dataDir, secret);
  });

  it('takes a client by its metadata document, and refuses one whose document names another id', { timeout: 60_000 }, async () => {
    const id = `${documentsUrl}/connector.json`;
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'; // RFC 7636's example verifier's
    const url = new URL(`${kiln.url}/oauth/authorize`);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: id,
      redirect_uri: REDIRECT,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'xyz',
    }))
      url.searchParams.set(k, v);
    const page = await openConsent(url);
    expect(page.html).toContain('Doc Connector');
    expect(page.html).toContain(new URL(documentsUrl).host);
    const code = await consent(url, { credential: TEST_KEY });
    const wrong = await token({
      grant_type: 'authorization_code',
      code,
      client_id: id,
      redirect_uri: REDIRECT,
      code_verifier: 'x'.repeat(43),
    });
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringContaining('code_verifier') });
    const right = await token({
      grant_type: 'authorization_code',
      code,
      client_id: id,
      redirect_uri: REDIRECT,
      code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    });
    expect(right.status).toBe(200);
    const pair = (await right.json()) as { access_token: string };
    expect((await withToken('/v1/tools', pair.access_token)).status).toBe(200);
    // the code is spent: a second exchange is refused and ends the grant
    const twice = await token({
      grant_type: 'authorization_code',
      code,
      client_id: id,
      redirect_uri: REDIRECT,
      code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    });
    expect(await twice.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await withToken('/v1/tools', pair.access_token)).status).toBe(401);

    // without redirect_uri (the client has one): the token request needs none either (RFC 6749 §4.1.3)
    const bare = new URL(url);
    bare.searchParams.delete('redirect_uri');
    const code2 = await consent(bare, { credential: TEST_KEY });
    const noRedirect = await token({
      grant_type: 'authorization_code',
      code: code2,
      client_id: id,
      code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
    });
    expect(noRedirect.status).toBe(200);

    url.searchParams.set('client_id', `${documentsUrl}/liar.json`);
    const liar = await fetch(url);
    expect(liar.status).toBe(400);
    expect(await liar.text()).toContain('another client_id');
  });
});

describe('the consent page and the endpoints refuse what they must', () => {
  async function registered(redirect = REDIRECT) {
    const res = await fetch(`${kiln.url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Probe', redirect_uris: [redirect], token_endpoint_auth_method: 'none' }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { client_id: string }).client_id;
  }
  const authorizeUrl = (clientId: string, extra: Record<string, string> = {}) => {
    const url = new URL(`${kiln.url}/oauth/authorize`);
    const params = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 's1',
      ...extra,
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url;
  };

  it('is never framed, runs no script, and takes no post without its cookie and token or from another origin', async () => {
    const url = authorizeUrl(await registered());
    const page = await openConsent(url);
    expect(page.res.headers.get('x-frame-options')).toBe('DENY');
    const csp = page.res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    expect(page.html).not.toContain('<script');
    expect(page.cookie).toMatch(/^kiln-consent=/);
    expect(page.res.headers.get('set-cookie')).toMatch(/HttpOnly/i);
    expect(page.res.headers.get('set-cookie')).toMatch(/SameSite=Strict/i);
    for (const forged of [
      { ...page, cookie: '' }, // no cookie: a cross-site post carries none
      {
        ...page,
        fields: page.fields.map(([n, v]): [string, string] => [n, n === 'csrf' ? `${v.slice(0, -1)}${v.endsWith('A') ? 'B' : 'A'}` : v]),
      },
    ]) {
      const res = await submitConsent(forged, kiln.url, { credential: TEST_KEY });
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
    }
    const elsewhere = await submitConsent(page, kiln.url, { credential: TEST_KEY }, { origin: 'https://attacker.test' });
    expect(elsewhere.status).toBe(403);
    // a tool limit that names no tool id is refused on the page, not stored
    const notIds = await submitConsent(page, kiln.url, { credential: TEST_KEY, tools: 'tool_a, weather' });
    expect(notIds.status).toBe(403);
    expect(await notIds.text()).toContain('is not a tool id');
    // a browser on a page that withholds its referrer says Origin: null; the signed cookie decides
    const nullOrigin = await submitConsent(await openConsent(url), kiln.url, { credential: TEST_KEY }, { origin: 'null' });
    expect(nullOrigin.status).toBe(303);
    // a key with run but not admin cannot grant
    const runKey = (await kiln.post('/v1/keys', { name: 'runner', scopes: ['run'] })).body as { secret: string };
    const notAdmin = await submitConsent(page, kiln.url, { credential: runKey.secret });
    expect(notAdmin.status).toBe(401);
    expect(notAdmin.headers.get('location')).toBeNull();
    // deny goes back to the client with access_denied
    const denied = await submitConsent(page, kiln.url, { credential: '', decision: 'deny' });
    expect(new URL(denied.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
    expect(new URL(denied.headers.get('location')!).searchParams.get('iss')).toBe(kiln.url);
  });

  it('never redirects to a URI the client did not register; sends other errors back to the client', async () => {
    const id = await registered();
    for (const bad of [authorizeUrl(id, { redirect_uri: 'https://attacker.test/cb' }), authorizeUrl('ocl_000000000000000000000000')]) {
      const res = await fetch(bad, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
    for (const [extra, error] of [
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge: '' }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ resource: 'https://other.test/mcp' }, 'invalid_target'],
    ] as const) {
      const res = await fetch(authorizeUrl(id, extra), { redirect: 'manual' });
      expect(res.status).toBe(303);
      const back = new URL(res.headers.get('location')!);
      expect([back.searchParams.get('error'), back.searchParams.get('state'), back.searchParams.get('iss')]).toEqual([
        error,
        's1',
        kiln.url,
      ]);
    }
  });

  it('registers only safe redirect URIs, answers OAuth errors naming the parameter, and limits bursts', async () => {
    for (const [uri, why] of [
      ['http://example.test/cb', 'loopback'],
      ['javascript:alert(1)', 'javascript'],
      ['https://example.test/cb#frag', 'fragment'],
    ]) {
      const res = await fetch(`${kiln.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [uri] }),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error).toBe('invalid_redirect_uri');
      expect(body.error_description).toContain('redirect_uris[0]');
      expect(body.error_description).toContain(why);
    }
    expect(await (await token({ grant_type: 'password', client_id: await registered() })).json()).toMatchObject({
      error: 'unsupported_grant_type',
    });
    expect((await token({ grant_type: 'authorization_code', client_id: 'ocl_000000000000000000000000' })).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < 90; i++)
      statuses.push((await token({ grant_type: 'refresh_token', client_id: 'nobody', refresh_token: 'x' })).status);
    expect(statuses).toContain(429);
    expect(statuses.indexOf(429)).toBeLessThanOrEqual(80);
  });
});
