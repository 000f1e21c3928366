import type { BuildQueue } from '../builds/builder.js';
import { runtimeImageTag } from '../builds/builder.js';
import { AppError, fieldError } from '../../errors.js';
import type { RuntimeLanguage, RuntimeRevisionRecord, RuntimeStore } from '../../store/runtimes/records.js';
import { LANGUAGE_DESCRIPTORS, type Language, type Runtime } from '../registry.js';
import { parsePythonImports } from './manifest.js';

/**
 * How a run finds the box for a custom runtime revision: the revision checked against the request,
 * and its image made sure of on this kiln's engine.
 */
export function createRuntimeLookup(deps: { store: Pick<RuntimeStore, 'getRuntimeRevision'>; builds: BuildQueue; poolSize: number }) {
  const { store, builds } = deps;
  /** Image keys this engine was seen to have in the last seconds: a run does not ask the engine each time. */
  const present = new Map<string, number>();
  /**
   * A succeeded revision's image must be on this kiln's engine: with replicas on engines of their
   * own, the build ran on one of them. Missing here, it is built here (from the same manifest) and
   * the run is refused with a 503 to retry meanwhile (an async invocation waits and retries itself).
   */
  async function imageHere(revision: RuntimeRevisionRecord, field: string): Promise<void> {
    if ((present.get(revision.imageKey) ?? 0) > Date.now()) return;
    const image = await builds.ensureImage(revision);
    if (image.state === 'ready') return void present.set(revision.imageKey, Date.now() + 5_000);
    const why =
      image.state === 'failed'
        ? `could not be built on this kiln's engine: ${image.reason.slice(-300)}`
        : "is being built on this kiln's engine (it was built on another, or removed here); try again shortly";
    throw new AppError('SANDBOX_UNAVAILABLE', `${field}: the image of runtime revision ${revision.id} ${why}`, [
      { field, reason: `image_${image.state}` },
    ]);
  }

  /**
   * The Runtime that runs `language` code on revision `revisionId` (the `runtime_revision_id` of
   * a request or a tool, named `field` in errors): 400 unless it exists in the project, suits the
   * language (TypeScript runs on a javascript runtime) and its build has succeeded.
   */
  return async function runtimeFor(
    project: string,
    revisionId: string,
    language: Language,
    field = 'runtime_revision_id',
    opts = { built: true },
  ): Promise<Runtime> {
    const revision = await store.getRuntimeRevision(project, revisionId);
    if (!revision) throw fieldError(field, 'not_found', `runtime revision ${revisionId} not found`);
    const runsOn: RuntimeLanguage = language === 'python' ? 'python' : 'javascript';
    if (revision.language !== runsOn)
      throw fieldError(
        field,
        'wrong_language',
        `runtime revision ${revisionId} is a ${revision.language} runtime; ${language} code needs a ${runsOn} one`,
      );
    if (opts.built && revision.status !== 'succeeded') {
      const why = revision.status === 'failed' && revision.failureReason ? `: ${revision.failureReason}` : '';
      throw new AppError('BAD_REQUEST', `${field}: runtime revision ${revisionId} is ${revision.status}, not succeeded${why}`, [
        { field, reason: `build_${revision.status}`, message: `its build is ${revision.status}` },
      ]);
    }
    if (opts.built) await imageHere(revision, field);
    const imports = revision.additionalPythonImports ? parsePythonImports(revision.additionalPythonImports) : [];
    return {
      key: `${language}@${revision.imageKey}`,
      language,
      image: runtimeImageTag(revision.imageKey),
      warmEnv: [...LANGUAGE_DESCRIPTORS[language].warmEnv, ...(imports.length ? [`KILN_PREIMPORT=${imports.join(',')}`] : [])],
      poolSize: deps.poolSize,
    };
  };
}
