import { AppError, fieldError } from '../errors.js';
import type { KeyOfRequest } from '../access/scopes.js';
import type { Invocations } from '../invocations/invocations.js';
import type { C1FunctionRecord } from '../store/c1/records.js';
import type { Store, ToolRevision, ToolSummary } from '../store/store.js';
import type { Tools } from '../tools/tools.js';
import { createC1Commits, putFinalCommit } from './commits.js';
import { filesOf, revisionFields } from './files.js';

export { MAX_PENDING_COMMITS } from './commits.js';
export { checkFilename, ENTRY_FILE, filesOf } from './files.js';
export const FUNCTION_TYPES = ['FUNCTION_TYPE_UNSPECIFIED', 'FUNCTION_TYPE_ANY', 'FUNCTION_TYPE_CODE_MODE'] as const;

type FunctionAndTool = { fn: C1FunctionRecord; tool: ToolSummary };

/** Every function of the project, newest first, with its tool's summary (never its code or files). */
async function listAll(store: Store, project: string): Promise<FunctionAndTool[]> {
  const all: FunctionAndTool[] = [];
  let page: C1FunctionRecord[];
  let startingAfter: string | undefined;
  do {
    page = await store.c1.listFunctions(project, { limit: 100, startingAfter });
    const summaries = await store.tools.summaries(
      project,
      page.map((f) => f.toolId),
    );
    const tools = new Map(summaries.map((t) => [t.id, t]));
    for (const fn of page) {
      const tool = tools.get(fn.toolId);
      if (tool) all.push({ fn, tool });
    }
    startingAfter = page.at(-1)?.toolId;
  } while (page.length === 100 && all.length < 10_000);
  return all;
}

/**
 * ConductorOne functions over kiln's tools: a function is a TypeScript tool whose entry is
 * main.ts's default export; a finalized commit is a tool revision with the same id; publishing
 * picks the revision an invoke without commitId runs; an invocation is an async execution
 * (via `c1`), so every function is also visible and runnable through /v1/tools, /mcp and the
 * executions log.
 */
export function createC1Functions(deps: { store: Store; tools: Tools; invocations: Invocations }) {
  const c1 = deps.store.c1;
  const notFound = (id: string, field = 'id') => new AppError('NOT_FOUND', `function ${id} not found`, [{ field, reason: 'not_found' }]);

  /** The function and its tool; a tool that is not a C1 function reads as missing here. */
  async function get(project: string, id: string, field = 'id'): Promise<FunctionAndTool> {
    const fn = await c1.getFunction(project, id);
    if (!fn) throw notFound(id, field);
    // its summary: every route renders or checks that much, and a revision's code and files are up to 5 MiB
    const [tool] = await deps.store.tools.summaries(project, [id]);
    if (!tool) throw notFound(id, field);
    return { fn, tool };
  }

  async function revision(project: string, id: string, commitId: string, field: string): Promise<ToolRevision> {
    const rev = await deps.store.tools.getRevision(project, id, commitId);
    if (!rev) throw fieldError(field, 'not_found', `function ${id} has no commit ${commitId}`);
    return rev;
  }

  return {
    get,
    filesOf,
    async create(
      project: string,
      f: { displayName: string; description: string; functionType: string; commitMessage: string; files: Record<string, string> },
    ) {
      const fields = revisionFields(f.files, 'initialContent');
      const tool = await deps.tools.create(project, { name: f.displayName, description: f.description, ...fields });
      const at = new Date().toISOString();
      await c1.putFunction({
        toolId: tool.id,
        project,
        functionType: f.functionType,
        publishedCommitId: null,
        createdAt: at,
        updatedAt: at,
      });
      const filenames = Object.keys(f.files);
      await putFinalCommit(c1, { id: tool.revisionId, functionId: tool.id, project, message: f.commitMessage, filenames, createdAt: at });
      return get(project, tool.id);
    },

    list: (project: string) => listAll(deps.store, project),

    async remove(project: string, id: string) {
      await get(project, id);
      await deps.tools.remove(project, id);
      await c1.deleteFunction(project, id);
    },

    /** UpdateFunction: the fields its mask names (displayName, description, publishedCommitId). */
    async update(
      project: string,
      id: string,
      fields: { displayName?: string; description?: string; publishedCommitId?: string },
      mask: string[],
    ) {
      await get(project, id, 'function.id');
      const at = new Date().toISOString();
      if (mask.includes('publishedCommitId')) {
        const commit = fields.publishedCommitId || null;
        if (commit) await revision(project, id, commit, 'function.publishedCommitId');
        await c1.setPublished(project, id, commit, at);
      }
      const changes: { name?: string; description?: string } = {};
      if (mask.includes('displayName')) changes.name = fields.displayName ?? '';
      if (mask.includes('description')) changes.description = fields.description ?? '';
      if (Object.keys(changes).length) {
        // the name and description are the tool's: a new revision, with the commit message saying so
        const tool = await deps.tools.update(project, id, changes);
        const message = `update ${Object.keys(changes).join(', ')}`;
        await putFinalCommit(c1, {
          id: tool.revisionId,
          functionId: id,
          project,
          message,
          filenames: Object.keys(filesOf(tool)),
          createdAt: at,
        });
        await c1.touchFunction(project, id, at);
      }
      return get(project, id);
    },

    ...createC1Commits({ store: deps.store, tools: deps.tools, get, revision }),
    revision,

    /** Invoke: the given commit, else the published one; queued as an async execution. */
    async invoke(
      project: string,
      id: string,
      commitId: string | undefined,
      input: Record<string, unknown>,
      from: { bytes: number; key?: KeyOfRequest | null },
    ) {
      const { fn } = await get(project, id, 'function_id');
      const commit = commitId || fn.publishedCommitId;
      if (!commit)
        throw fieldError(
          'commitId',
          'not_published',
          `function ${id} has no published commit: give commitId, or publish one (POST /api/v1/functions/update with updateMask "publishedCommitId")`,
        );
      await revision(project, id, commit, 'commitId');
      const accepted = await deps.invocations.accept(
        { project, via: 'c1', mode: 'function', target: { kind: 'tool', toolId: id, revisionId: commit }, input, key: from.key ?? null },
        { bytes: from.bytes },
      );
      await c1.putInvocation({ id: accepted.id, functionId: id, project, commitId: commit, input, createdAt: accepted.createdAt });
      return accepted.id;
    },
  };
}

export type C1Functions = ReturnType<typeof createC1Functions>;
