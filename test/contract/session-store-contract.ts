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
  ownerUrl: null,
  restored: false,
  checkpoint: { generation: 0, chunks: 0, bytes: 0, at: null },
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
      await store.sessions.create(s, 'sealed-spec');
      expect(await store.sessions.get(project, s.id)).toEqual(s);
      expect(await store.sessions.get(newProject('other'), s.id)).toBeNull();
      expect(await store.sessions.list(newProject('other'), { limit: 10 })).toEqual([]);
    });

    it('touches and ends only a running session of the project; an ended one stays ended', async () => {
      const s = aSession(project);
      await store.sessions.create(s, 'sealed-spec');
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
      for (const s of [a, b, c]) await store.sessions.create(s, 'sealed-spec');
      await store.sessions.end(project, b.id, { reason: 'deleted', detail: null, at: at(1) });
      expect((await store.sessions.list(project, { limit: 2 })).map((s) => s.id)).toEqual([c.id, b.id]);
      expect((await store.sessions.list(project, { limit: 2, startingAfter: b.id })).map((s) => s.id)).toEqual([a.id]);
      expect((await store.sessions.list(project, { limit: 10, status: 'running' })).map((s) => s.id)).toEqual([c.id, a.id]);
    });

    it('keeps the sealed spec apart from the record, for the project only', async () => {
      const s = aSession(project);
      await store.sessions.create(s, 'v1.sealed');
      expect(await store.sessions.spec(project, s.id)).toBe('v1.sealed');
      expect(await store.sessions.spec(newProject('other'), s.id)).toBeNull();
      expect(JSON.stringify(await store.sessions.get(project, s.id))).not.toContain('v1.sealed');
    });

    it('lists the running sessions other kilns hold, and pauses one only for the kiln that holds it', async () => {
      const instance = `kiln-${newProject('i')}`;
      const mine = aSession(project, { owner: `${instance}/now` });
      const theirs = aSession(project, { owner: `${instance}/old1` });
      const done = aSession(project, { owner: `${instance}/old2` });
      for (const s of [mine, theirs, done]) await store.sessions.create(s, 'x');
      await store.sessions.end(project, done.id, { reason: 'deleted', detail: null, at: at(1) });
      const ids = (await store.sessions.runningElsewhere(`${instance}/now`)).map((s) => s.id);
      expect(ids).toContain(theirs.id);
      expect(ids).not.toContain(mine.id);
      expect(ids).not.toContain(done.id);
      expect(await store.sessions.pause(project, theirs.id, `${instance}/now`)).toBeNull();
      expect(await store.sessions.pause(newProject('other'), theirs.id, `${instance}/old1`)).toBeNull();
      expect(await store.sessions.pause(project, theirs.id, `${instance}/old1`)).toMatchObject({ status: 'paused' });
      expect(await store.sessions.pause(project, done.id, `${instance}/old2`)).toBeNull();
    });

    it('lets one kiln claim a paused session, or a running one only from the owner it saw', async () => {
      const s = aSession(project, { owner: 'kiln/old' });
      await store.sessions.create(s, 'x');
      const to = { owner: 'kiln/new', ownerUrl: 'http://kiln-2:8080', lastActiveAt: at(10), expiresAt: at(20) };
      expect(await store.sessions.claim(project, s.id, { status: 'running', owner: 'kiln/other' }, to)).toBeNull();
      expect(await store.sessions.claim(project, s.id, { status: 'paused' }, to)).toBeNull();
      const claimed = await store.sessions.claim(project, s.id, { status: 'running', owner: 'kiln/old' }, to);
      expect(claimed).toMatchObject({
        status: 'running',
        owner: 'kiln/new',
        ownerUrl: 'http://kiln-2:8080',
        restored: true,
        expiresAt: at(20),
      });
      await store.sessions.pause(project, s.id, 'kiln/new');
      // two kilns race for the paused session: one gets it
      const both = await Promise.all([
        store.sessions.claim(project, s.id, { status: 'paused' }, { ...to, owner: 'kiln/a' }),
        store.sessions.claim(project, s.id, { status: 'paused' }, { ...to, owner: 'kiln/b' }),
      ]);
      expect(both.filter(Boolean)).toHaveLength(1);
    });

    it('ends paused sessions past a deadline, naming which, and no running one', async () => {
      const idle = aSession(project, { expiresAt: at(100), endsAt: at(10_000) });
      const old = aSession(project, { expiresAt: at(100_000), endsAt: at(200) });
      const fresh = aSession(project, { expiresAt: at(100_000), endsAt: at(200_000) });
      const running = aSession(project, { expiresAt: at(100), endsAt: at(200) });
      for (const s of [idle, old, fresh, running]) await store.sessions.create(s, 'x');
      for (const s of [idle, old, fresh]) await store.sessions.pause(project, s.id, s.owner);
      const ended = await store.sessions.endExpired(at(1000));
      const byId = new Map(ended.map((r) => [r.id, r.endReason]));
      expect(byId.get(idle.id)).toBe('idle_timeout');
      expect(byId.get(old.id)).toBe('max_lifetime');
      expect(byId.has(fresh.id)).toBe(false);
      expect(byId.has(running.id)).toBe(false);
    });

    it('keeps a checkpoint whole: chunks count once committed, an uncommitted generation is dropped, an end drops all', async () => {
      const s = aSession(project);
      await store.sessions.create(s, 'x');
      await store.sessions.writeChunk(s.id, 1, 0, 'c0');
      await store.sessions.writeChunk(s.id, 1, 1, 'c1');
      const checkpoint = { generation: 1, chunks: 2, bytes: 10240, at: at(5) };
      expect(await store.sessions.commitCheckpoint(newProject('other'), s.id, checkpoint)).toBe(false);
      expect(await store.sessions.commitCheckpoint(project, s.id, checkpoint)).toBe(true);
      expect((await store.sessions.get(project, s.id))?.checkpoint).toEqual(checkpoint);
      // a kiln that died while writing generation 2 left a chunk: dropped, generation 1 kept
      await store.sessions.writeChunk(s.id, 2, 0, 'partial');
      await store.sessions.dropUncommitted(s.id);
      expect(await store.sessions.readChunk(s.id, 2, 0)).toBeNull();
      expect(await store.sessions.readChunk(s.id, 1, 1)).toBe('c1');
      await store.sessions.end(project, s.id, { reason: 'deleted', detail: null, at: at(6) });
      expect(await store.sessions.readChunk(s.id, 1, 0)).toBeNull();
      expect(await store.sessions.commitCheckpoint(project, s.id, { ...checkpoint, generation: 3 })).toBe(false);
    });
  });
}
