/**
 * API keys (issue 26): the bootstrap keys of KILN_API_KEYS (every scope in their project), and keys
 * made through /v1/keys or the CLI, kept in the store as a hash of their secret only. A key's secret
 * is `kiln_<the id's 24 hex digits>_<43 characters>` (256 random bits; the id finds its row, so a request costs one
 * indexed read); a revoked or expired key is refused on its next request, on every replica, as the
 * row is read each time. `last_used_at` is written at most once a minute a key.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError, fieldError } from '../errors.js';
import { newId } from '../ids.js';
import type { KeyRecord, KeyStore } from '../store/keys/records.js';
import type { Page } from '../store/page.js';
import { parseScopes, type Principal, SCOPES } from './scopes.js';

/**
 * The project of a bootstrap key (KILN_API_KEYS), null for none. Compared in constant time (digests
 * of one length), and every key is checked, so timing says nothing about which matched.
 */
export function keyProjects(keys: readonly { project: string; key: string }[]): (key: string | undefined) => string | null {
  const digests = keys.map((k) => ({ project: k.project, digest: sha256(k.key) }));
  return (key) => {
    const given = sha256(key ?? '');
    let project: string | null = null;
    for (const d of digests) if (timingSafeEqual(d.digest, given)) project ??= d.project;
    return key ? project : null;
  };
}

const SECRET = /^kiln_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;
const USED_EVERY_MS = 60_000;
const sha256 = (s: string) => createHash('sha256').update(s).digest();

export interface KeyCreate {
  name: string;
  scopes: string[];
  expiresAt?: string | null;
}

export function createKeys(deps: {
  store: KeyStore;
  bootstrap: readonly { project: string; key: string }[];
  /** OAuth access tokens: of kiln's own authorization server (./oauth/), or of a trusted issuer (./tokens.ts). */
  verifyToken?: ((token: string) => Promise<Principal | null>) | null;
}) {
  const { store } = deps;
  const bootstrap = keyProjects(deps.bootstrap);
  const lastWritten = new Map<string, number>();

  return {
    /** A new key of `project`: its record, and its secret, shown this once. */
    async create(project: string, f: KeyCreate): Promise<{ record: KeyRecord; secret: string }> {
      const name = f.name.trim();
      if (!name || name.length > 128) throw fieldError('name', 'invalid', 'must be 1 to 128 characters');
      parseScopes(f.scopes);
      if (f.expiresAt && !(Date.parse(f.expiresAt) > Date.now())) throw fieldError('expires_at', 'invalid', 'must be a time in the future');
      const id = newId('key'); // time-ordered: listed newest first
      const secret = `kiln_${id.slice(4)}_${randomBytes(32).toString('base64url')}`;
      const record: KeyRecord = {
        id,
        project,
        name,
        scopes: [...f.scopes],
        createdAt: new Date().toISOString(),
        expiresAt: f.expiresAt ? new Date(f.expiresAt).toISOString() : null,
        revokedAt: null,
        lastUsedAt: null,
      };
      await store.create(record, sha256(secret).toString('hex'));
      return { record, secret };
    },
    list: (project: string, page: Page) => store.list(project, page),
    async revoke(project: string, id: string): Promise<KeyRecord> {
      const record = await store.revoke(project, id, new Date().toISOString());
      if (!record) throw new AppError('NOT_FOUND', `key ${id} not found (or revoked already)`, [{ field: 'id', reason: 'not_found' }]);
      return record;
    },

    /** Who a presented secret is; null for none (unknown, revoked, expired: the same answer). */
    async authenticate(secret: string | undefined): Promise<Principal | null> {
      if (!secret) return null;
      // a bootstrap key first, whatever it looks like (one may look like a token, or like a stored key)
      const project = bootstrap(secret);
      if (project !== null) return { project, keyId: null, keyName: 'env', scopes: new Set(SCOPES), tools: null };
      const match = SECRET.exec(secret);
      if (!match) return deps.verifyToken ? deps.verifyToken(secret) : null;
      const row = await store.find(`key_${match[1]}`);
      // compared in constant time whether or not there is a row (a digest of the same length)
      const want = row ? Buffer.from(row.hash, 'hex') : sha256('');
      if (!timingSafeEqual(want, sha256(secret)) || !row) return null;
      const now = Date.now();
      if (row.revokedAt || (row.expiresAt && Date.parse(row.expiresAt) <= now)) return null;
      if (now - (lastWritten.get(row.id) ?? 0) >= USED_EVERY_MS) {
        lastWritten.set(row.id, now);
        void store.used(row.id, new Date(now).toISOString()).catch(() => {});
      }
      const { scopes, tools } = parseScopes(row.scopes);
      return { project: row.project, keyId: row.id, keyName: row.name, scopes, tools };
    },
  };
}

export type Keys = ReturnType<typeof createKeys>;
