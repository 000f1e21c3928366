import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { InvocationRecord } from '../../src/store/invocations/records.js';
import type { Store } from '../../src/store/store.js';
import { anExecution, newProject } from './records.js';

const now = () => new Date().toISOString();
const anInvocation = (project: string, overrides: Partial<InvocationRecord> = {}): InvocationRecord => ({
  id: newId('exec'),
  project,
  via: 'api',
  status: 'queued',
  reason: null,
  callbackUrl: null,
  createdAt: now(),
  startedAt: null,
  endedAt: null,
  webhook: null,
  ...overrides,
});

/** What every Store's invocations must do (the durable half of the async queue, and webhooks). */
export function describeInvocationStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`InvocationStore contract: ${name}`, () => {
    let store: Store;
    let project: string;
    beforeEach(async () => {
      store = await open();
      project = newProject('inv');
    });
    afterEach(async () => {
      await store.close();
    });

    it('stores an invocation with its sealed request; a claim moves it to running once, for one owner', async () => {
      const inv = anInvocation(project, { callbackUrl: 'https://hooks.example/x' });
      await store.invocations.create(inv, 'v1.sealed');
      expect(await store.invocations.get(project, inv.id)).toEqual(inv);
      expect(await store.invocations.get(newProject(), inv.id)).toBeNull(); // another project's: missing
      expect(await store.invocations.sealedRequest(inv.id)).toBe('v1.sealed');
      expect(await store.invocations.queuedIds(10)).toContain(inv.id);
      const claims = await Promise.all(['a', 'b', 'c'].map((owner) => store.invocations.claim(inv.id, owner, now())));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect((await store.invocations.get(project, inv.id))!.status).toBe('running');
      expect(await store.invocations.queuedIds(10)).not.toContain(inv.id);
      await store.invocations.requeue(inv.id);
      expect((await store.invocations.get(project, inv.id))!.status).toBe('queued');
    });

    it("lists a project's invocations of one surface or all, newest first, paged", async () => {
      const [a, b, c] = [
        anInvocation(project, { via: 'mcp' }),
        anInvocation(project, { via: 'api' }),
        anInvocation(project, { via: 'mcp' }),
      ];
      for (const inv of [a, b, c]) await store.invocations.create(inv, 'v1.sealed');
      await store.invocations.create(anInvocation(newProject(), { via: 'mcp' }), 'v1.sealed');
      expect((await store.invocations.list(project, 'mcp', { limit: 10 })).map((i) => i.id)).toEqual([c.id, a.id]);
      expect((await store.invocations.list(project, 'mcp', { limit: 1 })).map((i) => i.id)).toEqual([c.id]);
      expect((await store.invocations.list(project, 'mcp', { limit: 10, startingAfter: c.id })).map((i) => i.id)).toEqual([a.id]);
      expect(await store.invocations.list(project, 'mcp', { limit: 10 })).toContainEqual(a);
      // every surface (the console): this project's three, none of the other project's
      expect((await store.invocations.list(project, null, { limit: 10 })).map((i) => i.id)).toEqual([c.id, b.id, a.id]);
      expect((await store.invocations.list(project, null, { limit: 10, startingAfter: b.id })).map((i) => i.id)).toEqual([a.id]);
    });

    it('ends once; the sealed request goes; a webhook is scheduled only with a callback', async () => {
      const hooked = anInvocation(project, { callbackUrl: 'https://hooks.example/x' });
      const plain = anInvocation(project);
      for (const inv of [hooked, plain]) await store.invocations.create(inv, 'v1.sealed');
      const at = now();
      expect(await store.invocations.end(hooked.id, { status: 'finished', reason: null, at })).toBe(true);
      expect(await store.invocations.end(hooked.id, { status: 'cancelled', reason: 'late', at })).toBe(false); // the first end wins
      expect(await store.invocations.end(plain.id, { status: 'failed', reason: 'secret gone', at })).toBe(true);
      expect(await store.invocations.get(project, hooked.id)).toMatchObject({
        status: 'finished',
        endedAt: at,
        webhook: { status: 'pending', attempts: 0, nextAt: at },
      });
      expect(await store.invocations.get(project, plain.id)).toMatchObject({ status: 'failed', reason: 'secret gone', webhook: null });
      expect(await store.invocations.sealedRequest(hooked.id)).toBeNull();
      const due = await store.invocations.dueWebhooks(now(), 100);
      expect(due.map((d) => d.id)).toContain(hooked.id);
      expect(due.map((d) => d.id)).not.toContain(plain.id);
      await store.invocations.updateWebhook(hooked.id, {
        status: 'pending',
        attempts: 1,
        nextAt: new Date(Date.now() + 60_000).toISOString(),
        lastError: 'HTTP 500',
        firstAt: at,
      });
      expect((await store.invocations.dueWebhooks(now(), 100)).map((d) => d.id)).not.toContain(hooked.id);
      expect((await store.invocations.get(project, hooked.id))!.webhook).toMatchObject({ attempts: 1, lastError: 'HTTP 500' });
    });

    it('cancels a queued invocation of the project, and marks a running one for the kiln running it', async () => {
      const queued = anInvocation(project);
      const running = anInvocation(project);
      const other = anInvocation(project);
      for (const inv of [queued, running, other]) await store.invocations.create(inv, 's');
      await store.invocations.claim(running.id, 'me', now());
      await store.invocations.claim(other.id, 'me', now());
      expect(await store.invocations.requestCancel(newProject(), queued.id, now())).toBeNull();
      expect(await store.invocations.requestCancel(newProject(), running.id, now())).toBeNull();
      expect(await store.invocations.cancelRequested([running.id, other.id])).toEqual([]); // another project's cancel marks nothing
      expect(await store.invocations.requestCancel(project, queued.id, now())).toBe('cancelled');
      expect(await store.invocations.requestCancel(project, running.id, now())).toBe('running');
      expect(await store.invocations.requestCancel(project, newId('exec'), now())).toBeNull();
      expect(await store.invocations.cancelRequested([running.id, other.id, queued.id])).toEqual([running.id]);
      expect(await store.invocations.cancelRequested([])).toEqual([]);
    });

    it('stores and queues in one transaction: what fails inside it leaves no invocation', async () => {
      const kept = anInvocation(project);
      const lost = anInvocation(project);
      const seen: unknown[] = [];
      await store.invocations.create(kept, 's', async (tx) => {
        seen.push(...(await tx.executeSql('select 1 as one', [])).rows);
      });
      expect(seen).toEqual([{ one: 1 }]);
      await expect(
        store.invocations.create(lost, 's', async () => {
          throw new Error('the queue refused');
        }),
      ).rejects.toThrow('the queue refused');
      expect(await store.invocations.get(project, kept.id)).not.toBeNull();
      expect(await store.invocations.get(project, lost.id)).toBeNull();
      // a requeue and its job: the same
      await store.invocations.claim(kept.id, 'me', now());
      await expect(
        store.invocations.requeue(kept.id, async () => {
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect((await store.invocations.get(project, kept.id))!.status).toBe('running');
      await store.invocations.requeue(kept.id, async () => {});
      expect((await store.invocations.get(project, kept.id))!.status).toBe('queued');
    });

    it('knows which kilns are alive by their heartbeats, and forgets one that left', async () => {
      const [a, b] = [`a-${newProject()}/1`, `b-${newProject()}/1`];
      const old = new Date(Date.now() - 60_000).toISOString();
      await store.invocations.heartbeat(a, old);
      await store.invocations.heartbeat(b, now());
      const since = new Date(Date.now() - 30_000).toISOString();
      expect(await store.invocations.liveOwners(since)).toContain(b);
      expect(await store.invocations.liveOwners(since)).not.toContain(a);
      await store.invocations.heartbeat(a, now()); // seen again: alive again
      expect(await store.invocations.liveOwners(since)).toContain(a);
      await store.invocations.forgetOwners(a, old);
      expect(await store.invocations.liveOwners(old)).not.toContain(a);
      expect(await store.invocations.liveOwners(old)).toContain(b);
    });

    it('knows where each live kiln that said so is reached, as it said last', async () => {
      const [a, b, c] = [`a-${newProject()}/1`, `b-${newProject()}/1`, `c-${newProject()}/1`];
      const since = new Date(Date.now() - 30_000).toISOString();
      await store.invocations.heartbeat(a, now(), 'http://127.0.0.1:7001');
      await store.invocations.heartbeat(b, now()); // said nowhere
      await store.invocations.heartbeat(c, new Date(Date.now() - 60_000).toISOString(), 'http://127.0.0.1:7003'); // not seen lately
      let urls = (await store.invocations.liveUrls(since)).filter((r) => [a, b, c].includes(r.owner));
      expect(urls).toEqual([{ owner: a, url: 'http://127.0.0.1:7001' }]);
      await store.invocations.heartbeat(a, now(), 'http://127.0.0.1:7002'); // restarted elsewhere: the new address
      urls = (await store.invocations.liveUrls(since)).filter((r) => r.owner === a);
      expect(urls).toEqual([{ owner: a, url: 'http://127.0.0.1:7002' }]);
    });

    it('gives each due webhook attempt to one kiln', async () => {
      const hooked = anInvocation(project, { callbackUrl: 'https://hooks.example/y' });
      await store.invocations.create(hooked, 's');
      await store.invocations.end(hooked.id, { status: 'finished', reason: null, at: now() });
      const [due] = (await store.invocations.dueWebhooks(now(), 100)).filter((d) => d.id === hooked.id);
      const lease = new Date(Date.now() + 60_000).toISOString();
      const claims = await Promise.all([1, 2, 3].map(() => store.invocations.claimWebhook(hooked.id, due!.webhook, lease)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect((await store.invocations.dueWebhooks(now(), 100)).map((d) => d.id)).not.toContain(hooked.id);
    });

    it('ends the running invocations of owners not alive: interrupted, or finished when their execution was recorded', async () => {
      const lost = anInvocation(project);
      const recorded = anInvocation(project);
      const mine = anInvocation(project);
      for (const inv of [lost, recorded, mine]) await store.invocations.create(inv, 's');
      await store.invocations.claim(lost.id, 'dead', now());
      await store.invocations.claim(recorded.id, 'dead', now());
      await store.invocations.claim(mine.id, 'alive', now());
      await store.executions.record(anExecution(project, { id: recorded.id }));
      const ended = await store.invocations.endOrphans(['alive', 'another'], now(), 'kiln stopped while it ran');
      expect(ended.sort()).toEqual([lost.id, recorded.id].sort());
      expect(await store.invocations.get(project, lost.id)).toMatchObject({ status: 'interrupted', reason: 'kiln stopped while it ran' });
      expect(await store.invocations.get(project, recorded.id)).toMatchObject({ status: 'finished', reason: null });
      expect((await store.invocations.get(project, mine.id))!.status).toBe('running');
    });

    it('keeps one signing secret per project, created once, rotated keeping the previous one', async () => {
      const at = now();
      const first = await store.invocations.ensureWebhookSecret({
        project,
        sealed: 'v1.a',
        previousSealed: null,
        rotatedAt: null,
        createdAt: at,
      });
      const again = await store.invocations.ensureWebhookSecret({
        project,
        sealed: 'v1.b',
        previousSealed: null,
        rotatedAt: null,
        createdAt: at,
      });
      expect(again).toEqual(first);
      expect(first.sealed).toBe('v1.a');
      const rotated = await store.invocations.rotateWebhookSecret(project, 'v1.c', now());
      expect(rotated).toMatchObject({ sealed: 'v1.c', previousSealed: 'v1.a' });
      expect(await store.invocations.rotateWebhookSecret(newProject(), 'v1.d', now())).toBeNull();
      expect(await store.invocations.getWebhookSecret(newProject())).toBeNull();
    });
  });
}
