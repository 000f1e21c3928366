import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { Page, Store, ToolRevision } from '../../src/store/store.js';
import { UnstorableText } from '../../src/store/stored-text.js';
import { aNextRevision, aRevision, aSecret, anExecution, newProject } from './records.js';

export interface StoreContractOptions {
  /** For file-backed stores: close `store` and open another on the same data. */
  reopen?: (store: Store) => Promise<Store>;
}

/** Follows `startingAfter` from the first page until an empty one; returns every page, empty last. */
async function allPages<T extends { id: string }>(list: (page: Page) => Promise<T[]>, limit: number): Promise<T[][]> {
  const pages: T[][] = [];
  let startingAfter: string | undefined;
  for (;;) {
    const page = await list({ limit, ...(startingAfter === undefined ? {} : { startingAfter }) });
    pages.push(page);
    if (page.length === 0 || pages.length > 50) return pages;
    startingAfter = page.at(-1)!.id;
  }
}

const newestFirst = (ids: string[]) => [...ids].sort().reverse();
const asTool = ({ id, ...rest }: ToolRevision, createdAt = rest.createdAt) => ({ ...rest, id: rest.toolId, revisionId: id, createdAt });

/**
 * What every Store must do, whatever it stores into. `open` gives a store no other test writes
 * to at the same time; each test closes the store it opened.
 */
export function describeStoreContract(name: string, open: () => Promise<Store>, options: StoreContractOptions = {}): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let project: string;
    beforeEach(async () => {
      store = await open();
      project = newProject('a');
    });
    afterEach(async () => {
      await store.close();
    });

    describe('tools', () => {
      it('creates a tool and gets it back as its head revision, every field intact', async () => {
        const rev = aRevision(project);
        const created = await store.tools.create(rev);
        expect(created).toEqual(asTool(rev));
        expect(await store.tools.get(project, rev.toolId)).toEqual(asTool(rev));
        expect(await store.tools.getRevision(project, rev.toolId, rev.id)).toEqual(rev);
      });

      it('addToolRevision makes a new head; earlier revisions stay readable and unchanged', async () => {
        const first = aRevision(project);
        await store.tools.create(first);
        const second = aNextRevision(first, { name: 'add2' });
        const updated = await store.tools.addRevision(second);
        expect(updated).toEqual(asTool(second, first.createdAt)); // a tool's createdAt is its first revision's
        expect(updated!.revisionId).not.toBe(first.id);
        expect(await store.tools.get(project, first.toolId)).toEqual(asTool(second, first.createdAt));
        expect(await store.tools.getRevision(project, first.toolId, first.id)).toEqual(first);
        expect(await store.tools.getRevision(project, first.toolId, second.id)).toEqual(second);
      });

      it('addToolRevision of a tool that does not exist is null and stores nothing', async () => {
        const orphan = aRevision(project);
        expect(await store.tools.addRevision(orphan)).toBeNull();
        expect(await store.tools.get(project, orphan.toolId)).toBeNull();
        expect(await store.tools.getRevision(project, orphan.toolId, orphan.id)).toBeNull();
      });

      it('addToolRevision built on a head that has moved is null and stores nothing (compare-and-set)', async () => {
        const first = aRevision(project);
        await store.tools.create(first);
        const second = aNextRevision(first, { name: 'second' });
        expect(await store.tools.addRevision(second, first.id)).not.toBeNull();
        const stale = aNextRevision(first, { name: 'stale' });
        expect(await store.tools.addRevision(stale, first.id)).toBeNull(); // the head is `second` now
        expect((await store.tools.get(project, first.toolId))!.revisionId).toBe(second.id);
        expect(await store.tools.getRevision(project, first.toolId, stale.id)).toBeNull();
      });

      it("getToolRevision of another tool's revision is null", async () => {
        const a = aRevision(project);
        const b = aRevision(project);
        await store.tools.create(a);
        await store.tools.create(b);
        expect(await store.tools.getRevision(project, a.toolId, b.id)).toBeNull();
        expect(await store.tools.getRevision(project, a.toolId, newId('rev'))).toBeNull();
      });

      it('listTools pages newest first to an empty page, with no duplicates, showing each head', async () => {
        const revs: ToolRevision[] = [];
        for (let i = 0; i < 5; i++) revs.push(aRevision(project, { name: `tool${i}` }));
        for (const rev of revs) await store.tools.create(rev);
        const head = aNextRevision(revs[2]!);
        await store.tools.addRevision(head);

        const pages = await allPages((page) => store.tools.list(project, page), 2);
        expect(pages.map((p) => p.length)).toEqual([2, 2, 1, 0]);
        const ids = pages.flat().map((t) => t.id);
        expect(ids).toEqual(newestFirst(revs.map((r) => r.toolId)));
        expect(pages.flat().find((t) => t.id === revs[2]!.toolId)?.revisionId).toBe(head.id);
        expect(await store.tools.list(project, { limit: 100 })).toHaveLength(5);
        expect(await store.tools.list(project, { limit: 1 })).toEqual([asTool(revs[4]!)]);
      });

      it('listToolRevisions pages newest first; null for a tool that does not exist', async () => {
        const first = aRevision(project);
        await store.tools.create(first);
        const revs = [first];
        for (let i = 0; i < 4; i++) {
          const next = aNextRevision(first);
          await store.tools.addRevision(next);
          revs.push(next);
        }
        const pages = await allPages(async (page) => (await store.tools.listRevisions(project, first.toolId, page))!, 3);
        expect(pages.map((p) => p.length)).toEqual([3, 2, 0]);
        expect(pages.flat()).toEqual([...revs].reverse());
        expect(await store.tools.listRevisions(project, newId('tool'), { limit: 10 })).toBeNull();
      });

      it('summaries and lookups by name carry no code or files; a listing carries code but no files', async () => {
        const files = [{ path: 'data.txt', contents: 'x'.repeat(1000) }];
        const old = aRevision(project, { name: 'fetch', files });
        await store.tools.create(old);
        const renamed = aRevision(project, { name: 'other' });
        await store.tools.create(renamed);
        await store.tools.addRevision(aNextRevision(renamed, { name: 'fetch', files }));
        const stale = aRevision(project, { name: 'gone' });
        await store.tools.create(stale);
        await store.tools.addRevision(aNextRevision(stale, { name: 'current' }));

        const found = await store.tools.findByName(project, 'fetch');
        expect(found?.id).toBe(renamed.toolId); // the newest tool whose head has the name
        expect(found).not.toHaveProperty('code');
        expect(found).not.toHaveProperty('files');
        expect(await store.tools.findByName(project, 'gone')).toBeNull(); // an old revision's name is not the tool's
        expect(await store.tools.findByName(newProject('b'), 'fetch')).toBeNull();

        const summaries = await store.tools.listSummaries(project, { limit: 100 });
        expect(summaries.map((t) => t.id)).toEqual(newestFirst([old.toolId, renamed.toolId, stale.toolId]));
        for (const t of summaries) expect(Object.keys(t)).not.toContain('code');
        expect((await store.tools.summaries(project, [old.toolId, newId('tool')])).map((t) => t.name)).toEqual(['fetch']);
        const { code: _c, files: _f, ...summary } = asTool(old);
        expect((await store.tools.summaries(project, [old.toolId]))[0]).toEqual(summary);

        const listed = await store.tools.list(project, { limit: 100 });
        expect(listed.find((t) => t.id === old.toolId)).toEqual({ ...summary, code: old.code });
        expect((await store.tools.listRevisions(project, old.toolId, { limit: 10 }))![0]).not.toHaveProperty('files');
        expect(await store.tools.listRevisionStamps(project, renamed.toolId, { limit: 10 })).toEqual(
          (await store.tools.listRevisions(project, renamed.toolId, { limit: 10 }))!.map((r) => ({ id: r.id, createdAt: r.createdAt })),
        );
        expect(await store.tools.listRevisionStamps(newProject('b'), old.toolId, { limit: 10 })).toBeNull();
        expect((await store.tools.get(project, old.toolId))?.files).toEqual(files); // a run reads them all
      });

      it('deleteTool removes the tool and its revisions, keeps its executions, and is false the second time', async () => {
        const first = aRevision(project);
        await store.tools.create(first);
        const second = aNextRevision(first);
        await store.tools.addRevision(second);
        const ran = anExecution(project, { kind: 'tool', toolId: first.toolId, revisionId: second.id });
        await store.executions.record(ran);
        const other = aRevision(project);
        await store.tools.create(other);

        expect(await store.tools.delete(project, first.toolId)).toBe(true);
        expect(await store.tools.get(project, first.toolId)).toBeNull();
        expect(await store.tools.getRevision(project, first.toolId, first.id)).toBeNull();
        expect(await store.tools.getRevision(project, first.toolId, second.id)).toBeNull();
        expect(await store.tools.listRevisions(project, first.toolId, { limit: 10 })).toBeNull();
        expect(await store.tools.addRevision(aNextRevision(first))).toBeNull();
        expect((await store.tools.list(project, { limit: 10 })).map((t) => t.id)).toEqual([other.toolId]);
        expect(await store.executions.get(project, ran.id)).toEqual(ran);
        expect(await store.tools.delete(project, first.toolId)).toBe(false);
      });
    });

    describe('secrets', () => {
      it('creates, lists (without sealed values), gets, updates and deletes', async () => {
        const one = aSecret(project, { name: 'ONE' });
        const two = aSecret(project, { name: 'TWO' });
        const { sealed: _sealed, ...oneRecord } = one;
        expect(await store.secrets.create(one)).toEqual(oneRecord);
        await store.secrets.create(two);

        const listed = await store.secrets.list(project, { limit: 10 });
        expect(listed.map((s) => s.id)).toEqual([two.id, one.id]);
        for (const s of listed) expect(s).not.toHaveProperty('sealed');

        const foreign = aSecret(newProject('b'));
        await store.secrets.create(foreign);
        const got = await store.secrets.getMany(project, [two.id, newId('secret'), foreign.id, one.id, two.id]);
        expect([...got].sort((x, y) => x.id.localeCompare(y.id))).toEqual([one, two]);
        expect(await store.secrets.getMany(project, [])).toEqual([]);

        const later = new Date(Date.parse(one.updatedAt) + 60_000).toISOString();
        const updated = await store.secrets.update(project, one.id, 'v1.rotated', later);
        expect(updated).toEqual({ ...oneRecord, updatedAt: later });
        expect(await store.secrets.getMany(project, [one.id])).toEqual([{ ...one, sealed: 'v1.rotated', updatedAt: later }]);

        expect(await store.secrets.delete(project, one.id)).toBe(true);
        expect(await store.secrets.getMany(project, [one.id])).toEqual([]);
        expect(await store.secrets.delete(project, one.id)).toBe(false);
        expect(await store.secrets.update(project, one.id, 'v1.x', later)).toBeNull();
        expect((await store.secrets.list(project, { limit: 10 })).map((s) => s.id)).toEqual([two.id]);
      });

      it('listSecrets pages newest first to an empty page', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const s = aSecret(project, { name: `S${i}` });
          await store.secrets.create(s);
          ids.push(s.id);
        }
        const pages = await allPages((page) => store.secrets.list(project, page), 2);
        expect(pages.map((p) => p.length)).toEqual([2, 2, 1, 0]);
        expect(pages.flat().map((s) => s.id)).toEqual(newestFirst(ids));
      });
    });

    describe('executions', () => {
      it('round-trips request and result JSON exactly: nesting, unicode, a 1 MiB string', async () => {
        const big = `${'x'.repeat(1024 * 1024 - 3)}end`;
        const unicode = 'héllo wörld · 日本語 · 🔥🧪 · e\u0301 · \u0000 \u2028 "quotes" \\ back';
        const rec = anExecution(project, {
          kind: 'tool',
          via: 'mcp',
          language: 'javascript',
          exitCode: 137,
          durationMs: 2_147_000_000,
          toolId: newId('tool'),
          revisionId: newId('rev'),
          request: { input: { deep: { deeper: [1, 2.5, -3e-7, true, null, { k: unicode }] }, empty: {}, list: [] }, env: ['A', 'B'] },
          result: { stdout: big, stderr: unicode, output: [[[]], { '🔑': 'v' }], n: Number.MAX_SAFE_INTEGER },
        });
        await store.executions.record(rec);
        const got = await store.executions.get(project, rec.id);
        expect(got).toEqual(rec);
        expect((got!.result as { stdout: string }).stdout).toBe(big);
        const nulls = anExecution(project, { request: null, result: null, exitCode: -1 });
        await store.executions.record(nulls);
        expect(await store.executions.get(project, nulls.id)).toEqual(nulls);
        expect(await store.executions.get(project, newId('exec'))).toBeNull();
      });

      it('recordExecution is idempotent: the same id again (a retry whose first answer was lost) keeps the first', async () => {
        const record = anExecution(project);
        await store.executions.record(record);
        await store.executions.record({ ...record, exitCode: 7 });
        expect(await store.executions.get(project, record.id)).toEqual(record);
        expect(await store.executions.list(project, { limit: 10 })).toHaveLength(1);
      });

      it('listExecutions pages newest first; onlyNonZeroExitCodes pages only failures', async () => {
        const codes = [0, 1, 0, 137, 0, 2, -1, 0, 0, 3];
        const recs = codes.map((exitCode) => anExecution(project, { exitCode }));
        for (const r of recs) await store.executions.record(r);

        const pages = await allPages((page) => store.executions.list(project, page), 4);
        expect(pages.map((p) => p.length)).toEqual([4, 4, 2, 0]);
        expect(pages.flat()).toEqual([...recs].reverse());

        const failedPages = await allPages((page) => store.executions.list(project, { ...page, onlyNonZeroExitCodes: true }), 2);
        expect(failedPages.map((p) => p.length)).toEqual([2, 2, 1, 0]);
        expect(failedPages.flat()).toEqual(recs.filter((r) => r.exitCode !== 0).reverse());
        expect(await store.executions.list(project, { limit: 10, onlyNonZeroExitCodes: false })).toHaveLength(10);
      });

      it('summaries filter by surface, tool, outcome, stop reason, exit code and time, page newest first, and carry no request or result', async () => {
        const recs = [
          anExecution(project, {
            via: 'mcp',
            exitCode: 1,
            startedAt: '2026-01-01T10:00:00.000Z',
            // a program that printed another result's words: its stdout is not its stop reason
            result: { stdout: '{"stop_reason":"timeout"}', exit_code: 1, stop_reason: 'exited' },
          }),
          anExecution(project, {
            via: 'api',
            toolId: 'tool_aaaaaaaaaaaaaaaaaaaaaaaa',
            kind: 'tool',
            startedAt: '2026-01-02T10:00:00.000Z',
          }),
          anExecution(project, {
            via: 'e2b',
            exitCode: 2,
            parentId: 'exec_bbbbbbbbbbbbbbbbbbbbbbbb',
            result: { stdout: '', exit_code: 2, stop_reason: 'timeout' },
            startedAt: '2026-01-03T10:00:00.000Z',
          }),
          anExecution(project, { via: 'api', key: { id: null, name: 'env' }, startedAt: '2026-01-04T10:00:00.000Z' }),
        ];
        for (const r of recs) await store.executions.record(r);
        await store.executions.record(anExecution(newProject('other')));
        const ids = async (f: Parameters<typeof store.executions.summaries>[1]) =>
          (await store.executions.summaries(project, f)).map((e) => e.id);
        const [mcp, tool, e2b, plain] = recs.map((r) => r.id) as [string, string, string, string];
        expect(await ids({ limit: 10 })).toEqual([plain, e2b, tool, mcp]);
        expect(await ids({ limit: 2 })).toEqual([plain, e2b]);
        expect(await ids({ limit: 10, startingAfter: e2b })).toEqual([tool, mcp]);
        expect(await ids({ limit: 10, via: 'api' })).toEqual([plain, tool]);
        expect(await ids({ limit: 10, toolId: 'tool_aaaaaaaaaaaaaaaaaaaaaaaa' })).toEqual([tool]);
        expect(await ids({ limit: 10, outcome: 'failed' })).toEqual([e2b, mcp]);
        expect(await ids({ limit: 10, outcome: 'ok' })).toEqual([plain, tool]);
        expect(await ids({ limit: 10, startedAfter: '2026-01-02T00:00:00Z', startedBefore: '2026-01-04T00:00:00Z' })).toEqual([e2b, tool]);
        expect(await ids({ limit: 10, stopReason: 'timeout' })).toEqual([e2b]);
        expect(await ids({ limit: 10, stopReason: 'exited' })).toEqual([mcp]);
        expect(await ids({ limit: 10, exitCode: 2 })).toEqual([e2b]);
        expect(await ids({ limit: 10, exitCode: 0 })).toEqual([plain, tool]);
        expect(await ids({ limit: 10, exitCode: 1, via: 'mcp' })).toEqual([mcp]);
        const [first] = await store.executions.summaries(project, { limit: 1, via: 'e2b' });
        expect(first).toEqual({ ...recs[2], request: undefined, result: undefined, project: undefined, stopReason: 'timeout' });
        expect(first).not.toHaveProperty('request');
        expect((await store.executions.summaries(project, { limit: 1 }))[0]?.key).toEqual({ id: null, name: 'env' });
      });

      it('pruneExecutions removes those started before olderThan', async () => {
        const old = [1, 2, 3].map((d) => anExecution(project, { startedAt: new Date(Date.UTC(2020, 0, d)).toISOString() }));
        const recent = [anExecution(project), anExecution(project)];
        for (const r of [...old, ...recent]) await store.executions.record(r);
        // An offset timestamp names the same instant as its UTC form (2020-01-02T00:00Z here).
        expect(await store.executions.prune({ olderThan: '2020-01-02T01:00:00+01:00', keepPerProject: 1000 })).toBe(1);
        expect(await store.executions.prune({ olderThan: '2021-01-01T00:00:00.000Z', keepPerProject: 1000 })).toBe(2);
        expect(await store.executions.list(project, { limit: 100 })).toEqual([...recent].reverse());
      });

      it("pruneExecutions keeps each project's newest keepPerProject, and counts age and excess together", async () => {
        const other = newProject('b');
        const mine = Array.from({ length: 6 }, () => anExecution(project));
        const theirs = Array.from({ length: 2 }, () => anExecution(other));
        const ancient = anExecution(other, { startedAt: '2001-01-01T00:00:00.000Z' });
        for (const r of [ancient, ...mine, ...theirs]) await store.executions.record(r);

        expect(await store.executions.prune({ olderThan: '2010-01-01T00:00:00.000Z', keepPerProject: 3 })).toBe(4);
        expect(await store.executions.list(project, { limit: 100 })).toEqual(mine.slice(3).reverse());
        expect(await store.executions.list(other, { limit: 100 })).toEqual([...theirs].reverse());
        expect(await store.executions.prune({ olderThan: '2010-01-01T00:00:00.000Z', keepPerProject: 3 })).toBe(0);
        // a project with a retention of its own (the anonymous XRPC project) keeps that many instead
        expect(await store.executions.prune({ olderThan: '2010-01-01T00:00:00.000Z', keepPerProject: 3, keep: { [other]: 1 } })).toBe(1);
        expect(await store.executions.list(other, { limit: 100 })).toEqual([theirs[1]]);
        expect(await store.executions.list(project, { limit: 100 })).toHaveLength(3);
      });

      it("keeps an execution's output files byte for byte, for its project only, and prunes them with it", async () => {
        const old = anExecution(project, { startedAt: '2001-01-01T00:00:00.000Z' });
        const kept = anExecution(project);
        for (const r of [old, kept]) await store.executions.record(r);
        const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await store.executions.recordFiles(project, old.id, [{ path: 'a.bin', data: binary }]);
        await store.executions.recordFiles(project, kept.id, [
          { path: 'deep/b.txt', data: Buffer.from('bee') },
          { path: 'empty', data: Buffer.alloc(0) },
        ]);
        expect(await store.executions.getFile(project, old.id, 'a.bin')).toEqual(binary);
        expect(await store.executions.getFile(project, kept.id, 'empty')).toEqual(Buffer.alloc(0));
        expect(await store.executions.getFile(newProject('other'), kept.id, 'deep/b.txt')).toBeNull();
        expect(await store.executions.getFile(project, kept.id, 'missing')).toBeNull();
        await store.executions.prune({ olderThan: '2010-01-01T00:00:00.000Z', keepPerProject: 1000 });
        expect(await store.executions.getFile(project, old.id, 'a.bin')).toBeNull();
        expect((await store.executions.getFile(project, kept.id, 'deep/b.txt'))?.toString()).toBe('bee');
      });
    });

    it('refuses text holding U+0000 in both databases alike, and keeps it inside JSON', async () => {
      await expect(store.secrets.create(aSecret(project, { name: 'a\u0000b' }))).rejects.toBeInstanceOf(UnstorableText);
      await expect(store.tools.create(aRevision(project, { code: 'print(1)\u0000' }))).rejects.toBeInstanceOf(UnstorableText);
      expect(await store.secrets.list(project, { limit: 10 })).toEqual([]);
      const record = anExecution(project, { request: { stdin: 'a\u0000b' }, result: { stdout: '\u0000' } });
      await store.executions.record(record);
      expect(await store.executions.get(project, record.id)).toEqual(record);
    });

    describe('c1 uploads', () => {
      const pending = (id: string, functionId: string, filenames: string[]) => ({
        id,
        functionId,
        project,
        message: '',
        filenames,
        uploads: {},
        finalized: false,
        createdAt: new Date().toISOString(),
      });

      it('addUpload keeps a commit within its bound (a replaced file counts once), and only while it is pending', async () => {
        const commit = newId('rev');
        await store.c1.putCommit(pending(commit, newId('tool'), ['a', 'b']));
        expect(await store.c1.pendingCommit(project, commit)).toMatchObject({ id: commit, filenames: ['a', 'b'] });
        expect(await store.c1.pendingCommit(newProject('b'), commit)).toBeNull();
        expect(await store.c1.addUpload(project, commit, 'a', 'é'.repeat(300), 1000)).toBe('added'); // 600 bytes
        expect(await store.c1.addUpload(project, commit, 'b', 'x'.repeat(401), 1000)).toBe('too_large');
        expect(await store.c1.addUpload(project, commit, 'a', 'x'.repeat(900), 1000)).toBe('added');
        expect(await store.c1.addUpload(project, commit, 'b', 'x'.repeat(100), 1000)).toBe('added');
        expect(await store.c1.addUpload(newProject('b'), commit, 'b', 'x', 1000)).toBe('missing');
        await store.c1.markFinalized(project, commit);
        expect(await store.c1.addUpload(project, commit, 'b', 'x', 1000)).toBe('missing');
        expect(await store.c1.pendingCommit(project, commit)).toBeNull();
      });

      it('concurrent uploads of one commit never sum past its bound together', async () => {
        const commit = newId('rev');
        const names = Array.from({ length: 10 }, (_, i) => `f${i}`);
        await store.c1.putCommit(pending(commit, newId('tool'), names));
        const results = await Promise.all(names.map((n) => store.c1.addUpload(project, commit, n, 'x'.repeat(100), 450)));
        expect(results.filter((r) => r === 'added')).toHaveLength(4);
      });

      it('prunePendingCommits keeps the newest pending commits of a function and leaves finalized ones', async () => {
        const fn = newId('tool');
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push(newId('rev'));
          await store.c1.putCommit(pending(ids[i]!, fn, ['main.ts']));
          await store.c1.addUpload(project, ids[i]!, 'main.ts', 'code', 100);
        }
        await store.c1.markFinalized(project, ids[0]!);
        expect(await store.c1.prunePendingCommits(project, fn, 2)).toBe(2);
        expect(await Promise.all(ids.map((id) => store.c1.pendingCommit(project, id).then(Boolean)))).toEqual([
          false,
          false,
          false,
          true,
          true,
        ]);
        expect(await store.c1.getCommit(project, fn, ids[0]!)).toMatchObject({ finalized: true });
        expect(await store.c1.prunePendingCommits(project, fn, 2)).toBe(0);
      });
    });

    it("project isolation: another project sees none of A's objects and cannot change them", async () => {
      const b = newProject('b');
      const rev = aRevision(project);
      await store.tools.create(rev);
      const rev2 = aNextRevision(rev);
      await store.tools.addRevision(rev2);
      const secret = aSecret(project);
      await store.secrets.create(secret);
      const exec = anExecution(project, { exitCode: 1 });
      await store.executions.record(exec);
      const toolBefore = await store.tools.get(project, rev.toolId);

      expect(await store.tools.get(b, rev.toolId)).toBeNull();
      expect(await store.tools.getRevision(b, rev.toolId, rev.id)).toBeNull();
      expect(await store.tools.list(b, { limit: 100 })).toEqual([]);
      expect(await store.tools.listRevisions(b, rev.toolId, { limit: 100 })).toBeNull();
      expect(await store.tools.addRevision(aNextRevision(rev, { project: b }))).toBeNull();
      expect(await store.tools.delete(b, rev.toolId)).toBe(false);
      expect(await store.secrets.list(b, { limit: 100 })).toEqual([]);
      expect(await store.secrets.getMany(b, [secret.id])).toEqual([]);
      expect(await store.secrets.update(b, secret.id, 'v1.hijacked', new Date().toISOString())).toBeNull();
      expect(await store.secrets.delete(b, secret.id)).toBe(false);
      expect(await store.executions.get(b, exec.id)).toBeNull();
      expect(await store.executions.list(b, { limit: 100 })).toEqual([]);
      expect(await store.executions.list(b, { limit: 100, onlyNonZeroExitCodes: true })).toEqual([]);

      expect(await store.tools.get(project, rev.toolId)).toEqual(toolBefore);
      expect(await store.tools.listRevisions(project, rev.toolId, { limit: 100 })).toEqual([rev2, rev]);
      expect(await store.secrets.getMany(project, [secret.id])).toEqual([secret]);
      expect(await store.executions.get(project, exec.id)).toEqual(exec);
    });

    it('20 concurrent createTool, addToolRevision and recordExecution calls all land, with distinct ids', async () => {
      const tools = Array.from({ length: 20 }, () => aRevision(project));
      await Promise.all(tools.map((t) => store.tools.create(t)));
      const base = tools[0]!;
      const revisions = Array.from({ length: 20 }, () => aNextRevision(base));
      const execs = Array.from({ length: 20 }, () => anExecution(project));
      const added = await Promise.all([
        ...revisions.map((r) => store.tools.addRevision(r)),
        ...execs.map((e) => store.executions.record(e).then(() => null)),
      ]);
      expect(added.slice(0, 20).every((t) => t !== null)).toBe(true);

      const listedTools = await store.tools.list(project, { limit: 100 });
      expect(new Set(listedTools.map((t) => t.id))).toEqual(new Set(tools.map((t) => t.toolId)));
      expect(listedTools).toHaveLength(20);
      const listedRevs = (await store.tools.listRevisions(project, base.toolId, { limit: 100 }))!;
      expect(new Set(listedRevs.map((r) => r.id))).toEqual(new Set([base, ...revisions].map((r) => r.id)));
      expect(listedRevs).toHaveLength(21);
      const head = (await store.tools.get(project, base.toolId))!.revisionId;
      expect(revisions.map((r) => r.id)).toContain(head);
      const listedExecs = await store.executions.list(project, { limit: 100 });
      expect(new Set(listedExecs.map((e) => e.id))).toEqual(new Set(execs.map((e) => e.id)));
      expect(listedExecs).toHaveLength(20);
    });

    it.skipIf(!options.reopen)('a store reopened on the same data sees everything', async () => {
      const rev = aRevision(project);
      await store.tools.create(rev);
      const rev2 = aNextRevision(rev);
      await store.tools.addRevision(rev2);
      const secret = aSecret(project);
      await store.secrets.create(secret);
      const exec = anExecution(project);
      await store.executions.record(exec);

      store = await options.reopen!(store);
      expect(await store.tools.get(project, rev.toolId)).toEqual(asTool(rev2, rev.createdAt));
      expect(await store.tools.listRevisions(project, rev.toolId, { limit: 10 })).toEqual([rev2, rev]);
      expect(await store.secrets.getMany(project, [secret.id])).toEqual([secret]);
      expect(await store.executions.get(project, exec.id)).toEqual(exec);
    });
  });
}
