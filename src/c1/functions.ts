import { AppError, fieldError } from '../errors.js';
import type { Invocations } from '../invocations/invocations.js';
import { newId } from '../ids.js';
import type { C1FunctionRecord } from '../store/c1-store.js';
import type { Store, ToolRevision, ToolSummary } from '../store/store.js';
import { checkCodeSize, checkFilesSize, maxUploadBytes, MAX_REVISION_BYTES, REVISION_LIMITS } from '../tools/revision-limits.js';
import type { Tools } from '../tools/tools.js';

/** C1's entry file: `export default async function main(input)`. */
export const ENTRY_FILE = 'main.ts';
export const FUNCTION_TYPES = ['FUNCTION_TYPE_UNSPECIFIED', 'FUNCTION_TYPE_ANY', 'FUNCTION_TYPE_CODE_MODE'] as const;

/** A commit's files: the entry and, besides it, what a revision may hold. */
const MAX_FILES = REVISION_LIMITS.files + 1;
/** Pending commits kept per function: a client that starts commits and never finalizes them cannot pile up uploads. */
export const MAX_PENDING_COMMITS = 10;
const FILENAME = /^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._@+\-/]{1,255}$/;

/** A file name a commit may hold: relative, no `.` or `..` segments. */
export function checkFilename(name: string, field: string): void {
  if (!FILENAME.test(name))
    throw fieldError(
      field,
      'invalid_filename',
      `${JSON.stringify(name.slice(0, 100))} is not a file name a function may have (relative, letters, digits, . _ - @ + /, no . or .. segments)`,
    );
}

/** A commit's files as a revision holds them: main.ts is the code, the rest are files. */
function revisionFields(files: Record<string, string>, field: string) {
  const names = Object.keys(files);
  if (names.length > MAX_FILES) throw fieldError(field, 'too_many_files', `at most ${MAX_FILES} files`);
  for (const n of names) checkFilename(n, `${field}.${n}`);
  if (!(ENTRY_FILE in files))
    throw fieldError(`${field}.${ENTRY_FILE}`, 'required', `a function needs ${ENTRY_FILE}, whose default export is called with the input`);
  const others = names.filter((n) => n !== ENTRY_FILE).map((path) => ({ path, contents: files[path]! }));
  // the tools service checks these too; here they name C1's own fields
  checkCodeSize(files[ENTRY_FILE]!, `${field}.${ENTRY_FILE}`);
  checkFilesSize(others, field);
  return { code: files[ENTRY_FILE]!, files: others, entry: 'default' as const, language: 'typescript' as const };
}

/** The files of a finalized commit (its revision), by name. */
export const filesOf = (revision: Pick<ToolRevision, 'code' | 'files'>): Record<string, string> => ({
  [ENTRY_FILE]: revision.code,
  ...Object.fromEntries((revision.files ?? []).map((f) => [f.path, f.contents])),
});

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
  async function get(project: string, id: string, field = 'id'): Promise<{ fn: C1FunctionRecord; tool: ToolSummary }> {
    const fn = await c1.getFunction(project, id);
    if (!fn) throw notFound(id, field);
    // its summary: every route renders or checks that much, and a revision's code and files are up to 5 MiB
    const [tool] = await deps.store.toolSummaries(project, [id]);
    if (!tool) throw notFound(id, field);
    return { fn, tool };
  }

  async function revision(project: string, id: string, commitId: string, field: string): Promise<ToolRevision> {
    const rev = await deps.store.getToolRevision(project, id, commitId);
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
      const tool = await deps.tools.create(project, {
        name: f.displayName,
        description: f.description,
        ...revisionFields(f.files, 'initialContent'),
      });
      const at = new Date().toISOString();
      await c1.putFunction({
        toolId: tool.id,
        project,
        functionType: f.functionType,
        publishedCommitId: null,
        createdAt: at,
        updatedAt: at,
      });
      await c1.putCommit({
        id: tool.revisionId,
        functionId: tool.id,
        project,
        message: f.commitMessage,
        filenames: Object.keys(f.files),
        uploads: {},
        finalized: true,
        createdAt: at,
      });
      return get(project, tool.id);
    },

    /** Every function of the project, newest first, with its tool's summary (never its code or files). */
    async list(project: string) {
      const all: { fn: C1FunctionRecord; tool: ToolSummary }[] = [];
      let page: C1FunctionRecord[];
      let startingAfter: string | undefined;
      do {
        page = await c1.listFunctions(project, { limit: 100, startingAfter });
        const tools = new Map(
          (
            await deps.store.toolSummaries(
              project,
              page.map((f) => f.toolId),
            )
          ).map((t) => [t.id, t]),
        );
        for (const fn of page) {
          const tool = tools.get(fn.toolId);
          if (tool) all.push({ fn, tool });
        }
        startingAfter = page.at(-1)?.toolId;
      } while (page.length === 100 && all.length < 10_000);
      return all;
    },

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
        await c1.putCommit({
          id: tool.revisionId,
          functionId: id,
          project,
          message: `update ${Object.keys(changes).join(', ')}`,
          filenames: Object.keys(filesOf(tool)),
          uploads: {},
          finalized: true,
          createdAt: at,
        });
        await c1.touchFunction(project, id, at);
      }
      return get(project, id);
    },

    /** CreateInitialCommit: a pending commit with one upload slot per file name. */
    async startCommit(project: string, id: string, message: string, filenames: string[]) {
      await get(project, id, 'function_id');
      if (filenames.length === 0 || filenames.length > MAX_FILES)
        throw fieldError('filenames', 'count', `give 1 to ${MAX_FILES} file names`);
      for (const [i, n] of filenames.entries()) checkFilename(n, `filenames.${i}`);
      if (!filenames.includes(ENTRY_FILE)) throw fieldError('filenames', 'required', `a commit needs ${ENTRY_FILE}`);
      if (new Set(filenames).size !== filenames.length) throw fieldError('filenames', 'duplicate', 'each file name once');
      const commitId = newId('rev');
      await c1.putCommit({
        id: commitId,
        functionId: id,
        project,
        message,
        filenames,
        uploads: {},
        finalized: false,
        createdAt: new Date().toISOString(),
      });
      // the oldest abandoned commits go: their upload URLs then answer 404
      await c1.prunePendingCommits(project, id, MAX_PENDING_COMMITS);
      return commitId;
    },

    /** One file's bytes for a pending commit (the upload URL's PUT), within what a revision may hold. */
    async upload(project: string, commitId: string, filename: string, contents: string) {
      const commit = await c1.pendingCommit(project, commitId);
      if (!commit) throw new AppError('NOT_FOUND', `no pending commit ${commitId}`, [{ field: 'commit_id', reason: 'not_found' }]);
      if (!commit.filenames.includes(filename))
        throw fieldError('filename', 'not_in_commit', `${filename} is not one of the commit's files (${commit.filenames.join(', ')})`);
      const max = maxUploadBytes(filename === ENTRY_FILE);
      if (Buffer.byteLength(contents) > max)
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `${filename} is larger than ${max} bytes, the most a function's ${filename === ENTRY_FILE ? 'code' : 'other files together'} may hold`,
          [{ field: '(body)', reason: 'too_large' }],
        );
      const added = await c1.addUpload(project, commitId, filename, contents, MAX_REVISION_BYTES);
      if (added === 'missing')
        throw new AppError('NOT_FOUND', `no pending commit ${commitId}`, [{ field: 'commit_id', reason: 'not_found' }]);
      if (added === 'too_large')
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `the commit's files would be larger than ${MAX_REVISION_BYTES} bytes together, the most a function may hold`,
          [{ field: '(body)', reason: 'too_large' }],
        );
    },

    /** CreateFinalCommit: every file uploaded → a new revision under the commit's id, the function's head. */
    async finalize(project: string, id: string, commitId: string) {
      await get(project, id, 'function_id');
      const commit = await c1.getCommit(project, id, commitId);
      if (!commit)
        throw new AppError('NOT_FOUND', `function ${id} has no commit ${commitId}`, [{ field: 'commit_id', reason: 'not_found' }]);
      if (commit.finalized) return revision(project, id, commitId, 'commit_id');
      const missing = commit.filenames.filter((n) => !(n in commit.uploads));
      if (missing.length) throw fieldError('commit_id', 'uploads_missing', `not uploaded yet: ${missing.join(', ')}`);
      const tool = await deps.tools.update(project, id, revisionFields(commit.uploads, 'files'), { revisionId: commitId });
      await c1.markFinalized(project, commitId);
      await c1.touchFunction(project, id, new Date().toISOString());
      return revision(project, tool.id, commitId, 'commit_id');
    },

    /** The legacy one-step commit (`{commitMessage, content}`): a new revision at once. */
    async commitNow(project: string, id: string, message: string, files: Record<string, string>) {
      await get(project, id, 'function_id');
      const tool = await deps.tools.update(project, id, revisionFields(files, 'content'));
      await c1.putCommit({
        id: tool.revisionId,
        functionId: id,
        project,
        message,
        filenames: Object.keys(files),
        uploads: {},
        finalized: true,
        createdAt: new Date().toISOString(),
      });
      await c1.touchFunction(project, id, new Date().toISOString());
      return revision(project, id, tool.revisionId, 'commit_id');
    },

    revision,
    /** The function's commits (finalized), newest first, up to 100, by id and time: never their code. */
    async commits(project: string, id: string): Promise<{ id: string; createdAt: string }[]> {
      await get(project, id, 'function_id');
      return (await deps.store.listToolRevisionStamps(project, id, { limit: 100 })) ?? [];
    },
    message: async (project: string, id: string, commitId: string) => (await c1.getCommit(project, id, commitId))?.message ?? '',

    /** Invoke: the given commit, else the published one; queued as an async execution. */
    async invoke(project: string, id: string, commitId: string | undefined, input: Record<string, unknown>, bytes: number) {
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
        { project, via: 'c1', mode: 'function', target: { kind: 'tool', toolId: id, revisionId: commit }, input },
        { bytes },
      );
      await c1.putInvocation({ id: accepted.id, functionId: id, project, commitId: commit, input, createdAt: accepted.createdAt });
      return accepted.id;
    },
  };
}

export type C1Functions = ReturnType<typeof createC1Functions>;
