import type { Config } from '../../config.js';
import { AppError, fieldError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { BuildQueue } from '../builds/builder.js';
import type { LiveLog } from '../builds/live-logs.js';
import type { RuntimeLanguage, RuntimeRevisionRecord, RuntimeStore, RuntimeWithHead } from '../../store/runtimes/records.js';
import type { Page } from '../../store/store.js';
import { imageKey, MANIFEST_FOR, normalizeManifest, parsePythonImports } from './manifest.js';
import { createRuntimeLookup } from './runtime-lookup.js';

/** A runtime's definition as the API takes it (Riza's fields). */
export interface RuntimeFields {
  manifest_file: { name: string; contents: string };
  additional_python_imports?: string | null;
}

/**
 * Custom runtimes: a manifest of packages becomes an image, built in the background (see
 * src/runtimes/builds/). Creating a runtime or a revision validates the manifest, names the image by a hash
 * of its content, and queues the build unless an equal one already succeeded. Code then runs on
 * a revision by `runtime_revision_id`, once its build has succeeded.
 */
export function createCustomRuntimes(deps: { store: RuntimeStore; builds: BuildQueue; config: Config; sourcesFingerprint: string }) {
  const { store, builds, config } = deps;
  const notFound = (what: string, id: string, field = 'id') =>
    new AppError('NOT_FOUND', `${what} ${id} not found`, [{ field, reason: 'not_found' }]);

  async function revisionOf(
    project: string,
    runtimeId: string,
    language: RuntimeLanguage,
    f: RuntimeFields,
  ): Promise<RuntimeRevisionRecord> {
    const expected = MANIFEST_FOR[language];
    if (f.manifest_file.name !== expected)
      throw fieldError('manifest_file.name', 'wrong_manifest', `a ${language} runtime takes ${expected}, not ${f.manifest_file.name}`);
    const manifest = normalizeManifest(language, f.manifest_file.contents);
    const importsText = f.additional_python_imports ?? null;
    if (importsText && language !== 'python')
      throw fieldError('additional_python_imports', 'python_only', 'only a python runtime takes additional_python_imports');
    const imports = importsText ? parsePythonImports(importsText) : [];
    let baseImageId: string;
    try {
      baseImageId = await builds.baseImageId(language);
    } catch (error) {
      throw new AppError('SANDBOX_UNAVAILABLE', `cannot build a ${language} runtime now: ${(error as Error).message}`, [
        { reason: 'base_image' },
      ]);
    }
    const key = imageKey({ language, baseImageId, manifest, imports, sources: deps.sourcesFingerprint });
    // an equal build that succeeded is reused at once: its image stays as long as a revision names it
    const done = (await store.hasSucceededBuild(key)) && (await builds.built(key));
    const at = new Date().toISOString();
    return {
      id: newId('rtrev'),
      runtimeId,
      project,
      language,
      manifestName: expected,
      manifestContents: f.manifest_file.contents,
      additionalPythonImports: importsText,
      imageKey: key,
      status: done ? 'succeeded' : 'pending',
      failureReason: null,
      createdAt: at,
      updatedAt: at,
    };
  }

  const queue = (revision: RuntimeRevisionRecord) => revision.status === 'pending' && builds.enqueue(revision);

  return {
    async create(project: string, f: RuntimeFields & { name: string; language: RuntimeLanguage }): Promise<RuntimeWithHead> {
      const id = newId('rt');
      const revision = await revisionOf(project, id, f.language, f);
      const created = await store.createRuntime(
        { id, project, name: f.name, language: f.language, createdAt: revision.createdAt },
        revision,
      );
      queue(revision);
      return created;
    },
    async addRevision(project: string, runtimeId: string, f: RuntimeFields): Promise<RuntimeRevisionRecord> {
      const runtime = await store.getRuntime(project, runtimeId);
      if (!runtime) throw notFound('runtime', runtimeId);
      const revision = await revisionOf(project, runtimeId, runtime.language, f);
      if (!(await store.addRuntimeRevision(revision))) throw notFound('runtime', runtimeId);
      queue(revision);
      return revision;
    },
    async get(project: string, id: string): Promise<RuntimeWithHead> {
      const runtime = await store.getRuntime(project, id);
      if (!runtime) throw notFound('runtime', id);
      return runtime;
    },
    list: (project: string, page: Page) => store.listRuntimes(project, page),
    async revisions(project: string, runtimeId: string, page: Page): Promise<RuntimeRevisionRecord[]> {
      const list = await store.listRuntimeRevisions(project, runtimeId, page);
      if (!list) throw notFound('runtime', runtimeId);
      return list;
    },
    async revision(project: string, runtimeId: string, revisionId: string): Promise<RuntimeRevisionRecord> {
      const revision = await store.getRuntimeRevision(project, revisionId);
      if (!revision || revision.runtimeId !== runtimeId) throw notFound('runtime revision', revisionId, 'revision_id');
      return revision;
    },
    async buildLog(project: string, runtimeId: string, revisionId: string): Promise<{ revision: RuntimeRevisionRecord; log: string }> {
      const revision = await this.revision(project, runtimeId, revisionId);
      return { revision, log: (await store.getBuildLog(project, revisionId)) ?? '' };
    },
    /**
     * A revision's build as it runs: its log so far and what comes next, when this process runs it;
     * none when it ended (its log is in the store) or runs elsewhere.
     */
    async liveLog(project: string, runtimeId: string, revisionId: string): Promise<LiveLog | undefined> {
      const revision = await this.revision(project, runtimeId, revisionId);
      return revision.status === 'pending' || revision.status === 'building' ? builds.liveLog(revision.imageKey) : undefined;
    },
    async delete(project: string, id: string): Promise<boolean> {
      const deleted = await store.deleteRuntime(project, id);
      if (!deleted) throw notFound('runtime', id);
      builds.sweepSoon();
      return true;
    },

    runtimeFor: createRuntimeLookup({ store, builds, poolSize: config.KILN_RUNTIME_POOL_SIZE }),
  };
}

export type CustomRuntimes = ReturnType<typeof createCustomRuntimes>;
