import { describe, expect, it } from 'vitest';
import { createKeys } from '../../../src/access/keys.js';
import type { KeyRecord, KeyStore } from '../../../src/store/keys/records.js';

/** A store in memory: these tests are about the secret's checks, not the database (the contract tests are). */
function memoryStore(): KeyStore {
  const rows = new Map<string, KeyRecord & { hash: string }>();
  return {
    create: async (key, hash) => void rows.set(key.id, { ...key, hash }),
    find: async (id) => rows.get(id) ?? null,
    list: async (project) => [...rows.values()].filter((r) => r.project === project),
    revoke: async (project, id, at) => {
      const row = rows.get(id);
      if (!row || row.project !== project || row.revokedAt) return null;
      row.revokedAt = at;
      return row;
    },
    used: async () => {},
  };
}

describe('keys', () => {
  it('knows a bootstrap key whatever it looks like, a stored key by its whole secret only, and a token only through its verifier', async () => {
    const lookalike = 'kiln_0123456789abcdef01234567_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const jwtLike = 'aaaa.bbbb.cccc-bootstrap';
    let asked = 0;
    const keys = createKeys({
      store: memoryStore(),
      bootstrap: [
        { project: 'p1', key: lookalike },
        { project: 'p2', key: jwtLike },
      ],
      verifyToken: async () => {
        asked++;
        return null;
      },
    });
    expect((await keys.authenticate(lookalike))?.project).toBe('p1');
    expect((await keys.authenticate(jwtLike))?.project).toBe('p2');
    expect(asked).toBe(0);
    const { secret, record } = await keys.create('p3', { name: 'ci', scopes: ['read'] });
    expect(await keys.authenticate(secret)).toMatchObject({ project: 'p3', keyId: record.id, keyName: 'ci' });
    expect(await keys.authenticate(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
    expect(await keys.authenticate('x.y.z')).toBeNull();
    expect(asked).toBe(1);
    expect(await keys.authenticate(undefined)).toBeNull();
    await expect(keys.create('p3', { name: 'bad', scopes: ['sudo'] })).rejects.toThrow(/not a scope/);
    await expect(keys.create('p3', { name: 'old', scopes: ['read'], expiresAt: '2000-01-01T00:00:00Z' })).rejects.toThrow(/future/);
  });
});
