/**
 * kiln as an OAuth 2.1 protected resource (RFC 9728), when it trusts an issuer (KILN_OAUTH_ISSUER):
 * its metadata at /.well-known/oauth-protected-resource (and …/mcp, the path MCP's clients derive
 * from /mcp), naming the resource tokens must be for and the server that issues them; and on every
 * 401, a WWW-Authenticate that points there, so that a client (claude.ai's connectors, the MCP SDK)
 * finds where to get a token with nothing configured but kiln's URL.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { type OAuthSettings, oauthAudience } from '../access/tokens.js';
import { SCOPES } from '../access/scopes.js';
import { type AppEnv, createRouter } from './context.js';

const base = (c: Context<AppEnv>, s: OAuthSettings) => s.KILN_PUBLIC_URL ?? new URL(c.req.url).origin;
const metadataPath = (path: string) => `/.well-known/oauth-protected-resource${path === '/mcp' || path.startsWith('/mcp/') ? '/mcp' : ''}`;

export function oauthResource(settings: OAuthSettings) {
  const app = createRouter();
  if (!settings.KILN_OAUTH_ISSUER) return { routes: app, challenge: null };
  const metadata = (c: Context<AppEnv>) =>
    c.json(
      {
        resource: oauthAudience(settings),
        authorization_servers: [settings.KILN_OAUTH_ISSUER],
        scopes_supported: [...SCOPES],
        bearer_methods_supported: ['header'],
        resource_name: 'kiln',
        resource_documentation: `${base(c, settings)}/docs`,
      },
      200,
      { 'cache-control': 'public, max-age=300' },
    );
  app.get('/.well-known/oauth-protected-resource', metadata);
  app.get('/.well-known/oauth-protected-resource/mcp', metadata);
  /** A 401's challenge names where the metadata is (RFC 9728 §5.1). */
  const challenge: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    if (c.res.status === 401)
      c.res.headers.set('WWW-Authenticate', `Bearer realm="kiln", resource_metadata="${base(c, settings)}${metadataPath(c.req.path)}"`);
  };
  return { routes: app, challenge };
}
