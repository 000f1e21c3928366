/**
 * kiln's own OAuth 2.1 authorization server (KILN_OAUTH_SERVER), for installs with no identity
 * provider of their own: its clients and its grants, built once from the settings. The HTTP side
 * (metadata, registration, the consent page, the token and revocation endpoints) is src/api/oauth/.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { AddressPolicy } from '../../egress/address-policy.js';
import type { OAuthStore } from '../../store/oauth/records.js';
import type { Principal } from '../scopes.js';
import { createOAuthClients } from './clients.js';
import { createOAuthGrants, isAccessToken } from './grants.js';

export function createAuthorizationServer(deps: {
  store: OAuthStore;
  policy: AddressPolicy;
  config: Pick<Config, 'KILN_OAUTH_ACCESS_TOKEN_SECONDS' | 'KILN_OAUTH_REFRESH_TOKEN_DAYS' | 'KILN_OAUTH_CLIENT_ALLOW_HTTP'>;
  log?: Logger;
}) {
  const clients = createOAuthClients({
    store: deps.store,
    policy: deps.policy,
    allowHttp: deps.config.KILN_OAUTH_CLIENT_ALLOW_HTTP,
    ...(deps.log ? { log: deps.log } : {}),
  });
  const grants = createOAuthGrants({
    store: deps.store,
    accessSeconds: deps.config.KILN_OAUTH_ACCESS_TOKEN_SECONDS,
    refreshDays: deps.config.KILN_OAUTH_REFRESH_TOKEN_DAYS,
  });
  return {
    clients,
    grants,
    /** Who an access token of this server is; null for anything else (a key, another issuer's token). */
    verify: (secret: string): Promise<Principal | null> => (isAccessToken(secret) ? grants.verifyAccess(secret) : Promise.resolve(null)),
  };
}

export type AuthorizationServer = ReturnType<typeof createAuthorizationServer>;
