/**
 * kiln as an OAuth 2.1 protected resource (RFC 9728), when it takes access tokens: of the issuer
 * it trusts (KILN_OAUTH_ISSUER), or of its own authorization server (KILN_OAUTH_SERVER). Its
 * metadata at /.well-known/oauth-protected-resource (and …/mcp, the path MCP's clients derive from
 * /mcp) names the resource tokens must be for and the server that issues them; every 401 carries a
 * WWW-Authenticate that points there, so that a client (claude.ai's connectors, the MCP SDK) finds
 * where to get a token with nothing configured but kiln's URL.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { SCOPES } from '../../access/scopes.js';
import { type OAuthSettings, oauthAudience } from '../../access/tokens.js';
import type { Config } from '../../config.js';
import { type AppEnv, createRouter } from '../context.js';

export type ResourceSettings = OAuthSettings & Pick<Config, 'KILN_OAUTH_SERVER'>;

/** kiln's address as its clients reach it: KILN_PUBLIC_URL, else the request's own origin. */
export const publicBase = (c: Context<AppEnv>, s: Pick<Config, 'KILN_PUBLIC_URL'>) => s.KILN_PUBLIC_URL ?? new URL(c.req.url).origin;

/** The resource (RFC 8707) kiln's tokens are for: the configured audience, or kiln's /mcp. */
export const resourceOf = (c: Context<AppEnv>, s: ResourceSettings) => (s.KILN_OAUTH_SERVER ? `${publicBase(c, s)}/mcp` : oauthAudience(s));

const metadataPath = (path: string) => `/.well-known/oauth-protected-resource${path === '/mcp' || path.startsWith('/mcp/') ? '/mcp' : ''}`;

export function oauthResource(settings: ResourceSettings) {
  const app = createRouter();
  if (!settings.KILN_OAUTH_ISSUER && !settings.KILN_OAUTH_SERVER) return { routes: app, challenge: null };
  const metadata = (c: Context<AppEnv>) =>
    c.json(
      {
        resource: resourceOf(c, settings),
        authorization_servers: [settings.KILN_OAUTH_ISSUER ?? publicBase(c, settings)],
        scopes_supported: [...SCOPES],
        bearer_methods_supported: ['header'],
        resource_name: 'kiln',
        resource_documentation: `${publicBase(c, settings)}/docs`,
      },
      200,
      { 'cache-control': settings.KILN_PUBLIC_URL ? 'public, max-age=300' : 'no-store', 'access-control-allow-origin': '*' },
    );
  app.get('/.well-known/oauth-protected-resource', metadata);
  app.get('/.well-known/oauth-protected-resource/mcp', metadata);
  /**
   * A 401's challenge names where the metadata is (RFC 9728 §5.1) and, on /mcp, the scopes a
   * connector needs (MCP's scope selection takes them before the metadata's full list).
   */
  const challenge: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    // the authorization server's own 401s (a client's failed authentication) are not the resource's
    if (c.res.status !== 401 || c.req.path.startsWith('/oauth/')) return;
    const onMcp = c.req.path === '/mcp' || c.req.path.startsWith('/mcp/');
    c.res.headers.set(
      'WWW-Authenticate',
      `Bearer realm="kiln", resource_metadata="${publicBase(c, settings)}${metadataPath(c.req.path)}"${onMcp ? ', scope="run read"' : ''}`,
    );
  };
  return { routes: app, challenge };
}
