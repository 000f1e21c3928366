import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { parsePythonImports } from '../custom/manifest.js';
import type { Runtime } from '../registry.js';
import { BOX_PROTOCOL_VERSION } from '../../sandbox/box-protocol.js';
import type { DockerImages } from '../../sandbox/docker-images.js';
import type { RuntimeLanguage, RuntimeRevisionRecord, RuntimeStore } from '../../store/runtimes/records.js';
import { type BuildBoxOutcome, INSTALL, type RunBuildBox } from './build-box.js';
import type { LiveLogs } from './live-logs.js';
import { TreeRefused, treeContext } from './tree-context.js';

/**
 * The derived image of an image key. It carries the wrapper of the sandbox image it was built FROM,
 * so the tag names the box protocol too: after an upgrade that changed it, the image is built again.
 */
export const runtimeImageTag = (imageKey: string) => `kiln-runtime:${imageKey}-p${BOX_PROTOCOL_VERSION}`;

/** The image key of a runtime image's tag, or null when the tag is not of this protocol's (an older kiln's image). */
export function imageKeyOfTag(tag: string): string | null {
  const match = /^kiln-runtime:(.+)-p(\d+)$/.exec(tag);
  return match && Number(match[2]) === BOX_PROTOCOL_VERSION ? match[1]! : null;
}

export interface BuildDeps {
  store: RuntimeStore;
  images: DockerImages;
  runBuildBox: RunBuildBox;
  registry: Record<RuntimeLanguage, Runtime>;
  config: Config;
  log: Logger;
}

/** The id of the sandbox image a language's runtimes are built FROM (part of their content hash). */
export async function baseImageId(deps: Pick<BuildDeps, 'images' | 'registry'>, language: RuntimeLanguage): Promise<string> {
  const image = deps.registry[language].image;
  const id = await deps.images.id(image);
  if (!id) throw new Error(`sandbox image ${image} is missing: run \`npm run images\``);
  return id;
}

/** Installs the revision's packages in a build box, and builds the image from what it installed. */
async function installAndBuild(
  deps: BuildDeps,
  revision: RuntimeRevisionRecord,
  signal: AbortSignal,
  onLog: (chunk: Buffer) => void,
): Promise<BuildBoxOutcome> {
  const { config } = deps;
  const imports = revision.additionalPythonImports ? parsePythonImports(revision.additionalPythonImports) : [];
  const base = await baseImageId(deps, revision.language);
  return deps.runBuildBox(
    revision,
    imports,
    signal,
    async (tree) => {
      const context = treeContext(tree, {
        base,
        dest: revision.language === 'python' ? INSTALL.python.export : INSTALL.javascript.export,
        limits: { maxBytes: config.KILN_BUILD_DISK_MIB * 1024 * 1024, maxEntries: 200_000 },
      });
      await deps.images.build(context, runtimeImageTag(revision.imageKey), {
        'kiln.runtime-key': revision.imageKey,
        'kiln.instance': config.KILN_INSTANCE,
      });
    },
    onLog,
  );
}

/**
 * Builds a revision's image. `recorded`: its revisions' statuses follow in the store (a new
 * revision). Otherwise the store already says succeeded (another replica built it on its engine)
 * and only this engine's image is made; its outcome goes to `builtHere` (null: it succeeded).
 */
export async function buildImage(
  deps: BuildDeps & {
    closed: () => boolean;
    builtHere: (imageKey: string, failure: string | null) => void;
    liveLogs: LiveLogs;
  },
  revision: RuntimeRevisionRecord,
  stop: AbortController,
  recorded: boolean,
): Promise<void> {
  const { store, config, log } = deps;
  const key = revision.imageKey;
  const tag = runtimeImageTag(key);
  const now = () => new Date().toISOString();
  // nothing waits for this key any more (its revisions were deleted, or a build already ended them)
  if (recorded && (await store.moveBuilds(key, ['pending', 'building'], 'building', now())) === 0) return;
  if (await deps.images.id(tag)) {
    if (recorded)
      await store.finishBuilds(key, { status: 'succeeded', failureReason: null, log: `image ${tag} already built\n`, at: now() });
    return;
  }
  const started = performance.now();
  // a revision of the store is followed live; a build for this engine alone is nobody's to follow
  const live = recorded ? deps.liveLogs.open(key) : null;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort(`the build ran past its ${config.KILN_BUILD_TIMEOUT_SECONDS} s limit (KILN_BUILD_TIMEOUT_SECONDS)`);
  }, config.KILN_BUILD_TIMEOUT_SECONDS * 1000);
  try {
    const outcome = await installAndBuild(deps, revision, stop.signal, (chunk) => live?.write(chunk));
    if (stop.signal.aborted && deps.closed()) return; // kiln is stopping: the next start builds it again
    const ms = Math.round(performance.now() - started);
    if (outcome.ok) log.info({ imageKey: key, ms, recorded }, 'runtime build succeeded');
    else log.info({ imageKey: key, ms, recorded, reason: outcome.reason.slice(-300) }, 'runtime build failed');
    if (!recorded) return deps.builtHere(key, outcome.ok ? null : outcome.reason);
    await store.finishBuilds(
      key,
      outcome.ok
        ? { status: 'succeeded', failureReason: null, log: outcome.log, at: now() }
        : { status: stop.signal.aborted && !timedOut ? 'cancelled' : 'failed', failureReason: outcome.reason, log: outcome.log, at: now() },
    );
  } catch (error) {
    if (deps.closed()) return;
    const reason =
      error instanceof TreeRefused
        ? `the installed packages were refused: ${error.message}`
        : `the build could not finish: ${(error as Error).message}`;
    log.warn({ imageKey: key, err: String(error) }, 'runtime build failed');
    if (!recorded) return deps.builtHere(key, reason);
    await store.finishBuilds(key, { status: 'failed', failureReason: reason, log: `${reason}\n`, at: now() });
  } finally {
    clearTimeout(timer);
    live?.end(); // after the outcome is stored: a follower told of the end reads the final status
  }
}
