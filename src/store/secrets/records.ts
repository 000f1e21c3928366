import type { Page } from '../page.js';

export interface SecretRecord {
  id: string; // secret_…
  project: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** A secret with its sealed value (see src/secrets/secret-box.ts); the store never sees a clear value. */
export interface SealedSecret extends SecretRecord {
  sealed: string;
}

export interface SecretStore {
  create(secret: SealedSecret): Promise<SecretRecord>;
  list(project: string, page: Page): Promise<SecretRecord[]>;
  /** The secrets of the project among `ids` (missing ones are simply absent). */
  getMany(project: string, ids: string[]): Promise<SealedSecret[]>;
  /** Replaces the sealed value; null when the secret does not exist in the project. */
  update(project: string, id: string, sealed: string, updatedAt: string): Promise<SecretRecord | null>;
  delete(project: string, id: string): Promise<boolean>;
}
