/**
 * kiln's own authorization server over HTTP (KILN_OAUTH_SERVER): its metadata (RFC 8414),
 * dynamic registration (RFC 7591), the consent page, the token and revocation endpoints. Every
 * endpoint but the metadata is rate limited per client address and, where a client is named, per
 * client (KILN_OAUTH_RATE_PER_MINUTE; in memory, per replica) and takes a small body only.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, Handler, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { rateLimiter } from 'hono-rate-limiter';
import type { Keys } from '../../access/keys.js';
import type { AuthorizationServer } from '../../access/oauth/authorization-server.js';
import { OAuthError } from '../../access/oauth/oauth-error.js';
import { SCOPES } from '../../access/scopes.js';
import type { Config } from '../../config.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import { limitBody } from '../body-limit.js';
import { type AppEnv, createRouter } from '../context.js';
import { authorizeRoutes } from './authorize.js';
import { publicBase } from './resource.js';
import { oauthErrorResponse, revocationEndpoint, tokenEndpoint } from './token.js';

const BODY_BYTES = 16 * 1024;

const addressOf = (c: Context<AppEnv>) => {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // no socket (a request made in-process)
  }
};

/** The client a request names, if any: client_id in the query or form, or a Basic header's user. */
async function clientNamed(c: Context<AppEnv>): Promise<string | null> {
  const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
  if (basic) return Buffer.from(basic, 'base64').toString('utf8').split(':')[0] ?? null;
  if (c.req.method === 'GET') return c.req.query('client_id') ?? null;
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('content-type') ?? '')) return null;
  return new URLSearchParams(await c.req.text()).get('client_id');
}

function limits(perMinute: number): MiddlewareHandler<AppEnv>[] {
  const handler: Handler<AppEnv> = (c) =>
    c.json({ error: 'temporarily_unavailable', error_description: `more than ${perMinute} requests a minute; wait and retry` }, 429, {
      'retry-after': '60',
    });
  const common = { windowMs: 60_000, limit: perMinute, standardHeaders: 'draft-6' as const, handler };
  return [
    rateLimiter<AppEnv>({ ...common, keyGenerator: (c) => `address ${addressOf(c)}` }),
    // a client's own bucket counts its failures only: anyone can name a client, and a burst of
    // refusals in its name must not stop its good requests for long (its address is limited apart)
    rateLimiter<AppEnv>({
      ...common,
      keyGenerator: async (c) => `client ${(await clientNamed(c)) ?? ''}`,
      skip: async (c) => (await clientNamed(c)) === null,
      skipSuccessfulRequests: true,
    }),
  ];
}

/** A handler whose OAuthErrors are answered as OAuth's JSON. */
const oauthJson =
  (handler: (c: Context<AppEnv>) => Promise<Response>): Handler<AppEnv> =>
  async (c) => {
    try {
      return await handler(c);
    } catch (err) {
      if (err instanceof OAuthError) return oauthErrorResponse(err, c);
      throw err;
    }
  };

export function authorizationServerRoutes(deps: {
  server: AuthorizationServer;
  keys: Keys;
  secretBox: SecretBox;
  settings: Pick<Config, 'KILN_PUBLIC_URL' | 'KILN_OAUTH_RATE_PER_MINUTE'>;
}) {
  const app = createRouter();
  const { server } = deps;
  // browser-based clients (the MCP Inspector) call these from their own origin; nothing rides on cookies here
  const open = cors({
    origin: '*',
    allowMethods: ['GET', 'POST'],
    allowHeaders: ['authorization', 'content-type', 'mcp-protocol-version'],
  });
  app.use('/.well-known/oauth-authorization-server', open);
  for (const path of ['/oauth/register', '/oauth/token', '/oauth/revoke']) app.use(path, open);
  app.use('/oauth/*', limitBody(BODY_BYTES), ...limits(deps.settings.KILN_OAUTH_RATE_PER_MINUTE));

  app.get('/.well-known/oauth-authorization-server', (c) => {
    const base = publicBase(c, deps.settings);
    return c.json(
      {
        issuer: base,
        authorization_endpoint: `${base}/oauth/authorize`,
        token_endpoint: `${base}/oauth/token`,
        registration_endpoint: `${base}/oauth/register`,
        revocation_endpoint: `${base}/oauth/revoke`,
        response_types_supported: ['code'],
        response_modes_supported: ['query'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
        revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
        scopes_supported: [...SCOPES],
        client_id_metadata_document_supported: true,
        authorization_response_iss_parameter_supported: true,
        service_documentation: `${base}/docs`,
      },
      200,
      // named from the request itself without KILN_PUBLIC_URL: never kept for another's Host
      { 'cache-control': deps.settings.KILN_PUBLIC_URL ? 'public, max-age=300' : 'no-store' },
    );
  });

  app.post(
    '/oauth/register',
    oauthJson(async (c) => {
      const body = await c.req.json().catch(() => {
        throw new OAuthError('invalid_client_metadata', 'the body must be a JSON object of client metadata');
      });
      const { client, secret } = await server.clients.register(body);
      return c.json(
        {
          ...client.metadata,
          client_id: client.id,
          client_id_issued_at: Math.floor(Date.parse(client.createdAt) / 1000),
          ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
        },
        201,
        { 'cache-control': 'no-store' },
      );
    }),
  );

  const consent = authorizeRoutes(deps);
  app.get('/oauth/authorize', consent.show);
  app.post('/oauth/authorize', consent.submit);
  app.post(
    '/oauth/token',
    oauthJson((c) => tokenEndpoint(server, c, publicBase(c, deps.settings))),
  );
  app.post(
    '/oauth/revoke',
    oauthJson((c) => revocationEndpoint(server, c, publicBase(c, deps.settings))),
  );
  return app;
}
