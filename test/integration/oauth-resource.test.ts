// kiln as an OAuth 2.1 resource server (issue 26), trusting a stand-in external issuer (its JWKS
// served on 127.0.0.1): its tokens, checked for signature, issuer, audience (RFC 8707) and expiry,
// give a project and scopes, on /v1 and on /mcp with the MCP SDK's client; every other token is a
// 401 whose WWW-Authenticate points at kiln's protected-resource metadata (RFC 9728), which names the issuer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
let issuerServer: Server;
let issuer: string;
let sign: (claims: JWTPayload, opts?: { audience?: string; issuer?: string; expiresIn?: string; kid?: string }) => Promise<string>;
const AUDIENCE = 'http://kiln.test/mcp';

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  issuerServer = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/oauth-authorization-server') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json` }));
    else if (req.url === '/jwks.json') res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => issuerServer.listen(0, '127.0.0.1', () => r()));
  issuer = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
  sign = (claims, opts = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' })
      .setIssuer(opts.issuer ?? issuer)
      .setAudience(opts.audience ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(opts.expiresIn ?? '5m')
      .sign(opts.kid === 'other' ? other.privateKey : privateKey);
  kiln = await startTestKiln({
    KILN_OAUTH_ISSUER: issuer,
    KILN_OAUTH_AUDIENCE: AUDIENCE,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  });
}, 60_000);
afterAll(async () => {
  await kiln?.close();
  issuerServer?.close();
});

const get = (path: string, token: string) => fetch(kiln.url + path, { headers: { authorization: `Bearer ${token}` } });

describe('OAuth access tokens of a trusted issuer', () => {
  it('take a project and scopes from a valid token, on /v1 and through the MCP SDK client; the log names the client', {
    timeout: 60_000,
  }, async () => {
    const token = await sign({ sub: 'user-1', client_id: 'agent-app', kiln_project: 'default', scope: 'openid kiln:run read' });
    expect((await get('/v1/tools', token)).status).toBe(200);
    const refused = await fetch(`${kiln.url}/v1/tools`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('manage');
    const client = new Client({ name: 'oauth-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
    );
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('execute_python');
      const ran = await client.callTool({ name: 'execute_python', arguments: { code: 'print("by token")' } });
      expect(JSON.stringify(ran.content)).toContain('by token');
    } finally {
      await client.close();
    }
    const log = (await (await get('/v1/executions?limit=5', token)).json()) as { data: { details: { key?: { name: string } } }[] };
    expect(log.data.some((e) => e.details.key?.name === 'oauth:agent-app')).toBe(true);
  });

  it('refuses every other token with a 401 that points at the protected-resource metadata, which names the issuer', {
    timeout: 60_000,
  }, async () => {
    const claims = { sub: 'u', kiln_project: 'default', scope: 'run' };
    const bad = [
      await sign(claims, { audience: 'http://elsewhere.test/mcp' }),
      await sign(claims, { issuer: 'http://not-the-issuer.test' }),
      await sign(claims, { expiresIn: '-2m' }),
      await sign(claims, { kid: 'other' }),
      `${(await sign(claims)).slice(0, -6)}AAAAAA`,
      await sign({ sub: 'u', scope: 'run' }), // no project
      await sign({ sub: 'u', kiln_project: 'NOT A PROJECT', scope: 'run' }),
    ];
    for (const token of bad) {
      const res = await get('/v1/tools', token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/resource_metadata="[^"]+\/.well-known\/oauth-protected-resource/);
    }
    const mcp = await fetch(`${kiln.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(mcp.status).toBe(401);
    const pointer = /resource_metadata="([^"]+)"/.exec(mcp.headers.get('www-authenticate') ?? '')?.[1];
    expect(pointer).toMatch(/\/.well-known\/oauth-protected-resource\/mcp$/);
    const meta = (await (await fetch(`${kiln.url}${new URL(pointer!).pathname}`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ resource: AUDIENCE, authorization_servers: [issuer] });
  });
});
