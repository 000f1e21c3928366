import { AppError, fieldError } from '../errors.js';
import { newId } from '../ids.js';
import type { C1FunctionRecord, C1Store } from '../store/c1/records.js';
import type { Store, ToolRevision, ToolSummary } from '../store/store.js';
import { maxUploadBytes, MAX_REVISION_BYTES } from '../tools/revision-limits.js';
import type { Tools } from '../tools/tools.js';
import { checkFilename, ENTRY_FILE, MAX_FILES, revisionFields } from './files.js';

/** Pending commits kept per function: a client that starts commits and never finalizes them cannot pile up uploads. */
export const MAX_PENDING_COMMITS = 10;

/** The record of a commit that is already a revision: the tool's revision of the same id. */
export const putFinalCommit = (
  c1: C1Store,
  c: { id: string; functionId: string; project: string; message: string; filenames: string[]; createdAt: string },
) => c1.putCommit({ ...c, uploads: {}, finalized: true });

const noPendingCommit = (commitId: string) =>
  new AppError('NOT_FOUND', `no pending commit ${commitId}`, [{ field: 'commit_id', reason: 'not_found' }]);
const tooLarge = (message: string) => new AppError('PAYLOAD_TOO_LARGE', message, [{ field: '(body)', reason: 'too_large' }]);

/**
 * A C1 function's commits: the two-step kind (a pending commit, one upload per file, then the final
 * commit that makes it a revision), the legacy one-step kind, and the reads of their history.
 */
export function createC1Commits(deps: {
  store: Store;
  tools: Tools;
  /** The function and its tool (NOT_FOUND naming `field` when the project has no such function). */
  get: (project: string, id: string, field?: string) => Promise<{ fn: C1FunctionRecord; tool: ToolSummary }>;
  revision: (project: string, id: string, commitId: string, field: string) => Promise<ToolRevision>;
}) {
  const c1 = deps.store.c1;
  const { get, revision } = deps;
  return {
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
      if (!commit) throw noPendingCommit(commitId);
      if (!commit.filenames.includes(filename))
        throw fieldError('filename', 'not_in_commit', `${filename} is not one of the commit's files (${commit.filenames.join(', ')})`);
      const max = maxUploadBytes(filename === ENTRY_FILE);
      if (Buffer.byteLength(contents) > max)
        throw tooLarge(
          `${filename} is larger than ${max} bytes, the most a function's ${filename === ENTRY_FILE ? 'code' : 'other files together'} may hold`,
        );
      const added = await c1.addUpload(project, commitId, filename, contents, MAX_REVISION_BYTES);
      if (added === 'missing') throw noPendingCommit(commitId);
      if (added === 'too_large')
        throw tooLarge(`the commit's files would be larger than ${MAX_REVISION_BYTES} bytes together, the most a function may hold`);
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
      await putFinalCommit(c1, {
        id: tool.revisionId,
        functionId: id,
        project,
        message,
        filenames: Object.keys(files),
        createdAt: new Date().toISOString(),
      });
      await c1.touchFunction(project, id, new Date().toISOString());
      return revision(project, id, tool.revisionId, 'commit_id');
    },

    /** The function's commits (finalized), newest first, up to 100, by id and time: never their code. */
    async commits(project: string, id: string): Promise<{ id: string; createdAt: string }[]> {
      await get(project, id, 'function_id');
      return (await deps.store.tools.listRevisionStamps(project, id, { limit: 100 })) ?? [];
    },
    message: async (project: string, id: string, commitId: string) => (await c1.getCommit(project, id, commitId))?.message ?? '',
  };
}
