import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { RuntimeRecord, RuntimeRevisionRecord } from '../../src/store/runtimes/records.js';
import type { Store } from '../../src/store/store.js';
import { newProject } from './records.js';

const now = () => new Date().toISOString();
const aRuntime = (project: string): RuntimeRecord => ({ id: newId('rt'), project, name: 'data', language: 'python', createdAt: now() });
const aRevisionOf = (rt: RuntimeRecord, overrides: Partial<RuntimeRevisionRecord> = {}): RuntimeRevisionRecord => ({
  id: newId('rtrev'),
  runtimeId: rt.id,
  project: rt.project,
  language: rt.language,
  manifestName: 'requirements.txt',
  manifestContents: 'kilnpkg==1.0.0\n',
  additionalPythonImports: null,
  imageKey: randomBytes(16).toString('hex'),
  status: 'pending',
  failureReason: null,
  createdAt: now(),
  updatedAt: now(),
  ...overrides,
});

/** What every Store's runtimes must do (custom runtimes and their builds). */
export function describeRuntimeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`RuntimeStore contract: ${name}`, () => {
    let store: Store;
    let project: string;
    beforeEach(async () => {
      store = await open();
      project = newProject('rt');
    });
    afterEach(async () => {
      await store.close();
    });

    it('creates a runtime at its first revision; a new revision becomes its head; both stay readable', async () => {
      const rt = aRuntime(project);
      const first = aRevisionOf(rt, { additionalPythonImports: 'import kilnpkg' });
      expect(await store.runtimes.createRuntime(rt, first)).toEqual({ ...rt, head: first });
      const second = aRevisionOf(rt);
      expect(await store.runtimes.addRuntimeRevision(second)).toEqual({ ...rt, head: second });
      expect(await store.runtimes.getRuntime(project, rt.id)).toEqual({ ...rt, head: second });
      expect(await store.runtimes.getRuntimeRevision(project, first.id)).toEqual(first);
      expect(await store.runtimes.listRuntimeRevisions(project, rt.id, { limit: 10 })).toEqual([second, first]);
      expect(await store.runtimes.listRuntimeRevisions(project, rt.id, { limit: 10, startingAfter: second.id })).toEqual([first]);
    });

    it('keeps projects apart', async () => {
      const rt = aRuntime(project);
      const rev = aRevisionOf(rt);
      await store.runtimes.createRuntime(rt, rev);
      const other = newProject('other');
      expect(await store.runtimes.getRuntime(other, rt.id)).toBeNull();
      expect(await store.runtimes.getRuntimeRevision(other, rev.id)).toBeNull();
      expect(await store.runtimes.listRuntimes(other, { limit: 10 })).toEqual([]);
      expect(await store.runtimes.listRuntimeRevisions(other, rt.id, { limit: 10 })).toBeNull();
      expect(await store.runtimes.getBuildLog(other, rev.id)).toBeNull();
      expect(await store.runtimes.addRuntimeRevision({ ...aRevisionOf(rt), project: other })).toBeNull();
      expect(await store.runtimes.deleteRuntime(other, rt.id)).toBe(false);
      expect(await store.runtimes.getRuntime(project, rt.id)).not.toBeNull();
    });

    it('lists runtimes newest first, by pages', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const rt = aRuntime(project);
        await store.runtimes.createRuntime(rt, aRevisionOf(rt));
        ids.push(rt.id);
      }
      const first = await store.runtimes.listRuntimes(project, { limit: 2 });
      expect(first.map((r) => r.id)).toEqual([ids[2], ids[1]]);
      expect((await store.runtimes.listRuntimes(project, { limit: 2, startingAfter: ids[1] })).map((r) => r.id)).toEqual([ids[0]]);
    });

    it('moves and finishes builds by image key, across revisions and projects, and only those still waiting', async () => {
      const key = randomBytes(16).toString('hex');
      const a = aRuntime(project);
      const b = aRuntime(newProject('b'));
      const ra = aRevisionOf(a, { imageKey: key });
      const rb = aRevisionOf(b, { imageKey: key });
      await store.runtimes.createRuntime(a, ra);
      await store.runtimes.createRuntime(b, rb);
      expect((await store.runtimes.buildsWithStatus(['pending'])).filter((r) => r.imageKey === key)).toEqual([ra]); // one per key, the oldest
      expect(await store.runtimes.moveBuilds(key, ['pending'], 'building', now())).toBe(2);
      expect(await store.runtimes.hasSucceededBuild(key)).toBe(false);
      expect(await store.runtimes.finishBuilds(key, { status: 'failed', failureReason: 'ERROR: nope', log: 'the log\n', at: now() })).toBe(
        2,
      );
      expect(await store.runtimes.getRuntimeRevision(b.project, rb.id)).toMatchObject({ status: 'failed', failureReason: 'ERROR: nope' });
      expect(await store.runtimes.getBuildLog(project, ra.id)).toBe('the log\n');
      // a finished build is not finished again
      expect(await store.runtimes.finishBuilds(key, { status: 'succeeded', failureReason: null, log: '', at: now() })).toBe(0);
      expect((await store.runtimes.imageKeysInUse()).has(key)).toBe(true);
    });

    it('deleting a runtime removes its revisions and frees their image key', async () => {
      const rt = aRuntime(project);
      const rev = aRevisionOf(rt);
      await store.runtimes.createRuntime(rt, rev);
      expect(await store.runtimes.deleteRuntime(project, rt.id)).toBe(true);
      expect(await store.runtimes.getRuntimeRevision(project, rev.id)).toBeNull();
      expect((await store.runtimes.imageKeysInUse()).has(rev.imageKey)).toBe(false);
    });
  });
}
