import type { Page } from '../page.js';

/** An API key kept in the store (src/access/keys.ts): its secret only as a hash. */
export interface KeyRecord {
  id: string; // key_…
  project: string;
  name: string;
  /** What it may do (src/access/scopes.ts), as given: `admin`, `manage`, `run`, `read`, `tools:<id>,…`. */
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface KeyStore {
  /** `hash`: SHA-256 of the secret, hex (a secret of 256 random bits needs no slow hash). */
  create(key: KeyRecord, hash: string): Promise<void>;
  /** The key with this id and the hash its secret must have; null when there is none. */
  find(id: string): Promise<(KeyRecord & { hash: string }) | null>;
  list(project: string, page: Page): Promise<KeyRecord[]>;
  /** Revokes it at `at`; null when the project has no such key (or it was revoked already). */
  revoke(project: string, id: string, at: string): Promise<KeyRecord | null>;
  /** Says it was used at `at` (written at most once a minute a key by its caller). */
  used(id: string, at: string): Promise<void>;
}
