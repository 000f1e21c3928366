/**
 * kiln's own OAuth authorization server's state (src/access/oauth/): clients registered
 * dynamically, grants (a client's access to one project, as a person consented to it), and the
 * codes and tokens of each grant, kept as hashes of their secrets only.
 */
export type ClientAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

export interface OAuthClientRecord {
  id: string; // ocl_…
  name: string;
  redirectUris: string[];
  authMethod: ClientAuthMethod;
  /** The registration as accepted, echoed to the client (RFC 7591 §3.2.1). */
  metadata: Record<string, unknown>;
  createdAt: string;
}

export interface OAuthGrantRecord {
  id: string; // grant_…
  project: string;
  clientId: string;
  clientName: string;
  /** As kiln's keys take them: `run`, `read`, `tools:<id>,…`. */
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
}

/** `consent`: a one-time code the CLI prints, which authorizes a client for its project on the consent page. */
export type OAuthTokenKind = 'code' | 'access' | 'refresh' | 'consent';

export interface OAuthTokenRecord {
  id: string; // otk_…
  kind: OAuthTokenKind;
  grantId: string | null;
  project: string;
  /** A code's redirect URI, PKCE challenge and resource. */
  detail: Record<string, string> | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

export interface OAuthStore {
  createClient(client: OAuthClientRecord, secretHash: string | null): Promise<void>;
  findClient(id: string): Promise<(OAuthClientRecord & { secretHash: string | null }) | null>;
  createGrant(grant: OAuthGrantRecord): Promise<void>;
  /** Revokes the grant and with it every token of it (each token's check reads its grant). */
  revokeGrant(id: string, at: string): Promise<void>;
  /** `hash`: SHA-256 of the token's secret, hex. */
  createToken(token: OAuthTokenRecord, hash: string): Promise<void>;
  /** The token, its hash, and its grant (null for a consent code); null when there is none. */
  findToken(id: string): Promise<{ token: OAuthTokenRecord & { hash: string }; grant: OAuthGrantRecord | null } | null>;
  /** Marks a code or refresh token used at `at`; false when it was used already (one use, on every replica). */
  useToken(id: string, at: string): Promise<boolean>;
  /** Deletes tokens that expired before `before`; how many. */
  pruneTokens(before: string): Promise<number>;
  /** Deletes clients registered before `before` that no grant names (registered, never consented to); how many. */
  pruneClients(before: string): Promise<number>;
}
