/**
 * The clients of kiln's authorization server. Two kinds, as MCP's authorization spec has them:
 *   - registered dynamically (RFC 7591): POST /oauth/register, kept in the store, a secret (hashed)
 *     for a confidential client;
 *   - a Client ID Metadata Document: the client id is an https URL whose JSON describes the client;
 *     kiln fetches it when the client comes (under the address policy of
 *     KILN_OAUTH_CLIENT_ALLOW_ADDRESSES, bounded in size and time), keeps it a few minutes, and
 *     never stores it. Such a client is public (PKCE is its proof).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { RefusedAddress, type AddressPolicy } from '../../egress/address-policy.js';
import { outboundPost } from '../../egress/outbound.js';
import { newId } from '../../ids.js';
import type { ClientAuthMethod, OAuthClientRecord, OAuthStore } from '../../store/oauth/records.js';
import { OAuthError } from './oauth-error.js';
import { redirectUriProblem } from './redirect-uris.js';

export type OAuthClient = OAuthClientRecord & {
  secretHash: string | null /** a metadata document's: its host, as the consent page shows it */;
  documentHost?: string;
  /** Its redirect URI is matched exactly (kiln's console): no other loopback port, as native apps get. */
  exactRedirect?: true;
};

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * kiln's own console (src/api/console/), signing a person in through the consent page: a public
 * client every kiln knows, whose one redirect URI is the console's callback on kiln's own origin —
 * so its codes only ever come back to kiln.
 */
export const CONSOLE_CLIENT_ID = 'kiln-console';
export const consoleCallback = (base: string) => `${base}/console/oauth/callback`;
const consoleClient = (base: string): OAuthClient => ({
  id: CONSOLE_CLIENT_ID,
  name: 'kiln console',
  redirectUris: [consoleCallback(base)],
  authMethod: 'none',
  metadata: {},
  createdAt: new Date(0).toISOString(),
  secretHash: null,
  exactRedirect: true,
});
const DOCUMENT_MAX_BYTES = 64 * 1024;
const DOCUMENT_KEEP_MS = 5 * 60_000;
/**
 * A client registered this long ago that no person ever consented to is dropped: registration is
 * open to anyone (RFC 7591), so what is never used must not pile up. Looked for at most hourly, as
 * registrations come. A client dropped this way that comes back registers again.
 */
const UNUSED_CLIENT_MS = 7 * 86_400_000;
const PRUNE_EVERY_MS = 60 * 60_000;
const webUrl = z
  .string()
  .max(2000)
  .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), 'must be an http(s) URL');

/** What a registration (or a metadata document) may say; what kiln does not know is dropped, as RFC 7591 §2 allows. */
const ClientMetadata = z.object({
  redirect_uris: z
    .array(z.string())
    .min(1, 'give at least one')
    .max(10, 'at most 10')
    .superRefine((uris, ctx) => {
      for (const [i, uri] of uris.entries()) {
        const problem = redirectUriProblem(uri);
        if (problem) ctx.addIssue({ code: 'custom', path: [i], message: problem });
      }
    }),
  client_name: z.string().trim().min(1).max(200).optional(),
  client_uri: webUrl.optional(),
  logo_uri: webUrl.optional(),
  scope: z.string().max(1000).optional(),
  token_endpoint_auth_method: z.enum(['none', 'client_secret_post', 'client_secret_basic']).default('client_secret_basic'),
  grant_types: z.array(z.string().max(100)).max(10).default(['authorization_code']),
  response_types: z.array(z.string().max(100)).max(10).default(['code']),
});

/** The registration's problem as RFC 7591 names it: a bad redirect URI is its own error. */
function metadataError(error: z.ZodError): OAuthError {
  const issue = error.issues[0]!;
  const field =
    issue.path.reduce<string>((f, p) => (typeof p === 'number' ? `${f}[${p}]` : f ? `${f}.${String(p)}` : String(p)), '') || 'metadata';
  const code = issue.path[0] === 'redirect_uris' ? 'invalid_redirect_uri' : 'invalid_client_metadata';
  return new OAuthError(code, `${field}: ${issue.message}`);
}

/** The accepted metadata: grant and response types kiln does not offer are dropped; it must allow the code flow. */
function accept(body: unknown) {
  const parsed = ClientMetadata.safeParse(body);
  if (!parsed.success) throw metadataError(parsed.error);
  const m = parsed.data;
  const grantTypes = m.grant_types.filter((g) => g === 'authorization_code' || g === 'refresh_token');
  if (!grantTypes.includes('authorization_code'))
    throw new OAuthError('invalid_client_metadata', 'grant_types: kiln issues tokens by authorization_code (and refresh_token) only');
  if (!m.response_types.includes('code')) throw new OAuthError('invalid_client_metadata', 'response_types: kiln answers code only');
  return { ...m, grant_types: grantTypes, response_types: ['code'] };
}

export function createOAuthClients(deps: { store: OAuthStore; policy: AddressPolicy; allowHttp: boolean; log?: Logger }) {
  const documents = new Map<string, { client: OAuthClient; until: number }>();
  let prunedAt = 0;

  /** A client id that is a URL: its metadata document, fetched (or remembered a few minutes). */
  async function fromDocument(id: string): Promise<OAuthClient | null> {
    const kept = documents.get(id);
    if (kept && kept.until > Date.now()) return kept.client;
    const url = new URL(id);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && deps.allowHttp)) return null;
    let body: unknown;
    try {
      const answer = await outboundPost(url, '', { accept: 'application/json' }, deps.policy, {
        timeoutMs: 5000,
        maxResponseBytes: DOCUMENT_MAX_BYTES,
        method: 'GET',
      });
      if (answer.status !== 200 || answer.truncated) throw new Error(`HTTP ${answer.status}${answer.truncated ? ', too large' : ''}`);
      body = JSON.parse(answer.body.toString('utf8'));
    } catch (err) {
      const why = err instanceof RefusedAddress ? err.toCaller('KILN_OAUTH_CLIENT_ALLOW_ADDRESSES') : String((err as Error).message ?? err);
      throw new OAuthError('invalid_client', `client_id: its metadata document could not be fetched (${why.slice(0, 200)})`);
    }
    if ((body as { client_id?: unknown })?.client_id !== id)
      throw new OAuthError('invalid_client', 'client_id: its metadata document names another client_id');
    const m = accept({ token_endpoint_auth_method: 'none', ...(body as object) });
    if (m.token_endpoint_auth_method !== 'none')
      throw new OAuthError('invalid_client', 'client_id: a client of a metadata document is public here (token_endpoint_auth_method none)');
    const client: OAuthClient = {
      id,
      name: m.client_name ?? url.host,
      redirectUris: m.redirect_uris,
      authMethod: 'none',
      metadata: m,
      createdAt: new Date().toISOString(),
      secretHash: null,
      documentHost: url.host,
    };
    if (documents.size > 1000) documents.clear();
    documents.set(id, { client, until: Date.now() + DOCUMENT_KEEP_MS });
    return client;
  }

  return {
    /** RFC 7591: a new client; its secret (shown this once) unless it is public. */
    async register(body: unknown): Promise<{ client: OAuthClientRecord; secret: string | null }> {
      const m = accept(body);
      const authMethod: ClientAuthMethod = m.token_endpoint_auth_method;
      const secret = authMethod === 'none' ? null : randomBytes(32).toString('base64url');
      const client: OAuthClientRecord = {
        id: newId('ocl'),
        name: m.client_name ?? 'unnamed client',
        redirectUris: m.redirect_uris,
        authMethod,
        metadata: m,
        createdAt: new Date().toISOString(),
      };
      await deps.store.createClient(client, secret === null ? null : sha256(secret));
      const now = Date.now();
      if (now - prunedAt > PRUNE_EVERY_MS) {
        prunedAt = now;
        void deps.store
          .pruneClients(new Date(now - UNUSED_CLIENT_MS).toISOString())
          .catch((err: unknown) => deps.log?.warn({ err: String(err) }, 'oauth: could not prune unused clients'));
      }
      return { client, secret };
    },

    /** The client of `id` (registered, a metadata document's URL, or the console of this kiln at `base`); null for none. */
    async find(id: string, base: string): Promise<OAuthClient | null> {
      if (id === CONSOLE_CLIENT_ID) return consoleClient(base);
      if (/^https?:\/\//.test(id) && URL.canParse(id)) return fromDocument(id);
      if (!/^ocl_[0-9a-f]{24}$/.test(id)) return null;
      return deps.store.findClient(id);
    },

    /** Throws invalid_client unless the client proved itself as it registered to (a public client proves nothing here). */
    authenticate(client: OAuthClient, secret: string | undefined): void {
      if (client.authMethod === 'none') {
        if (secret !== undefined) throw new OAuthError('invalid_client', 'client_secret: this client is public and has none');
        return;
      }
      const want = Buffer.from(client.secretHash ?? sha256(''), 'hex');
      if (secret === undefined || !timingSafeEqual(want, Buffer.from(sha256(secret), 'hex')))
        throw new OAuthError('invalid_client', 'client authentication failed');
    },
  };
}

export type OAuthClients = ReturnType<typeof createOAuthClients>;
