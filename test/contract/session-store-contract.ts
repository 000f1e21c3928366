import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { SessionRecord } from '../../src/store/sessions/records.js';
import type { Store } from '../../src/store/store.js';
import { newProject } from './records.js';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 7, 12, 0, 0) + ms).toISOString();
const aSession = (project: string, overrides: Partial<SessionRecord> = {}): SessionRecord => ({
  id: newId('sess'),
  project,
  language: 'python',
  runtimeRevisionId: null,
  memoryMiB: 128,
  idleTimeoutSeconds: 300,
  maxLifetimeSeconds: 3600,
  status: 'running',
  endReason: null,
  endDetail: null,
  owner: 'kiln/aaaa',
  createdAt: at(0),
  lastActiveAt: at(0),
  expiresAt: at(300_000),
  endsAt: at(3_600_000),
  endedAt: null,
  settings: { env: ['A'], http: { allow: [{ host: 'api.example.com' }] } },
  ...overrides,
});

/** What every Store's sessions must do. */
export function describeSessionStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let store: Store;
    let project: string;
    beforeEach(async () => {
      store = await open();
      project = newProject('sess');
    });
    afterEach(async () => {
      await store.close();
    });

    it('keeps a session as created; another project sees nothing of it', async () => {
      const s = aSession(project);
      await store.sessions.create(s);
      expect(await store.sessions.get(project, s.id)).toEqual(s);
      expect(await store.sessions.get(newProject('other'), s.id)).toBeNull();
      expect(await store.sessions.list(newProject('other'), { limit: 10 })).toEqual([]);
    });

    it('touches and ends only a running session of the project; an ended one stays ended', async () => {
      const s = aSession(project);
      await store.sessions.create(s);
      expect(await store.sessions.touch(newProject('other'), s.id, { lastActiveAt: at(5), expiresAt: at(10) })).toBeNull();
      const touched = await store.sessions.touch(project, s.id, { lastActiveAt: at(1000), expiresAt: at(301_000) });
      expect(touched).toMatchObject({ lastActiveAt: at(1000), expiresAt: at(301_000), status: 'running' });
      expect(await store.sessions.end(newProject('other'), s.id, { reason: 'deleted', detail: null, at: at(2000) })).toBeNull();
      const ended = await store.sessions.end(project, s.id, { reason: 'idle_timeout', detail: 'idle', at: at(2000) });
      expect(ended).toMatchObject({ status: 'ended', endReason: 'idle_timeout', endDetail: 'idle', endedAt: at(2000) });
      expect(await store.sessions.end(project, s.id, { reason: 'deleted', detail: null, at: at(3000) })).toBeNull();
      expect(await store.sessions.touch(project, s.id, { lastActiveAt: at(4000), expiresAt: at(5000) })).toBeNull();
      expect((await store.sessions.get(project, s.id))?.endReason).toBe('idle_timeout');
    });

    it('lists newest first, paged, and by status', async () => {
      const [a, b, c] = [aSession(project), aSession(project), aSession(project)];
      for (const s of [a, b, c]) await store.sessions.create(s);
      await store.sessions.end(project, b.id, { reason: 'deleted', detail: null, at: at(1) });
      expect((await store.sessions.list(project, { limit: 2 })).map((s) => s.id)).toEqual([c.id, b.id]);
      expect((await store.sessions.list(project, { limit: 2, startingAfter: b.id })).map((s) => s.id)).toEqual([a.id]);
      expect((await store.sessions.list(project, { limit: 10, status: 'running' })).map((s) => s.id)).toEqual([c.id, a.id]);
    });

    it("finds the running sessions an earlier start of an instance left, and no other instance's", async () => {
      const instance = `kiln-${newProject('i')}`;
      const mine = aSession(project, { owner: `${instance}/old1` });
      const current = aSession(project, { owner: `${instance}/now` });
      const theirs = aSession(project, { owner: `${instance}-b/old1` });
      const done = aSession(project, { owner: `${instance}/old2` });
      for (const s of [mine, current, theirs, done]) await store.sessions.create(s);
      await store.sessions.end(project, done.id, { reason: 'deleted', detail: null, at: at(1) });
      const left = await store.sessions.runningOfEarlierStarts(instance, `${instance}/now`);
      expect(left.map((s) => s.id)).toEqual([mine.id]);
    });
  });
}
