import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { KeyRecord } from '../../src/store/keys/records.js';
import type { Store } from '../../src/store/store.js';
import { newProject } from './records.js';

const aKey = (project: string, overrides: Partial<KeyRecord> = {}): KeyRecord => ({
  id: newId('key'),
  project,
  name: 'ci',
  scopes: ['run', 'tools:tool_a,tool_b'],
  createdAt: new Date().toISOString(),
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: null,
  ...overrides,
});

/** What every Store's keys must do: hashes kept, found by id, listed and revoked within a project only. */
export function describeKeyStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`KeyStore contract: ${name}`, () => {
    let store: Store;
    let project: string;
    beforeEach(async () => {
      store = await open();
      project = newProject('key');
    });
    afterEach(async () => {
      await store.close();
    });

    it('keeps a key with its hash, finds it by id, and lists its project’s newest first, paged', async () => {
      const first = aKey(project);
      const second = aKey(project, { name: 'second', expiresAt: '2030-01-01T00:00:00.000Z' });
      await store.keys.create(first, 'ab'.repeat(32));
      await store.keys.create(second, 'cd'.repeat(32));
      await store.keys.create(aKey(newProject('other')), 'ef'.repeat(32));
      expect(await store.keys.find(first.id)).toEqual({ ...first, hash: 'ab'.repeat(32) });
      expect(await store.keys.find(newId('key'))).toBeNull();
      expect((await store.keys.list(project, { limit: 10 })).map((k) => k.id)).toEqual([second.id, first.id]);
      expect((await store.keys.list(project, { limit: 1, startingAfter: second.id })).map((k) => k.id)).toEqual([first.id]);
      expect((await store.keys.list(project, { limit: 10 }))[0]).toMatchObject({
        scopes: ['run', 'tools:tool_a,tool_b'],
        expiresAt: second.expiresAt,
      });
    });

    it('revokes a key of the project once; another project cannot; it says when it was used', async () => {
      const key = aKey(project);
      await store.keys.create(key, 'ab'.repeat(32));
      expect(await store.keys.revoke(newProject('other'), key.id, new Date().toISOString())).toBeNull();
      const at = new Date().toISOString();
      expect((await store.keys.revoke(project, key.id, at))?.revokedAt).toBe(at);
      expect(await store.keys.revoke(project, key.id, at)).toBeNull();
      await store.keys.used(key.id, at);
      expect((await store.keys.find(key.id))?.lastUsedAt).toBe(at);
    });
  });
}
