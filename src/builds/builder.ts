import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Runtime } from '../runtimes/registry.js';
import type { DockerImages } from '../sandbox/docker-images.js';
import type { RuntimeLanguage, RuntimeRevisionRecord, RuntimeStore } from '../store/runtimes/records.js';
import { parsePythonImports } from '../runtimes/custom/manifest.js';
import { INSTALL, type RunBuildBox } from './build-box.js';
import { TreeRefused, treeContext } from './tree-context.js';

/** The derived image of an image key. */
export const runtimeImageTag = (imageKey: string) => `kiln-runtime:${imageKey}`;
const SWEEP_EVERY_MS = 10 * 60_000;

/** What the API side needs of the builds: the base a new revision builds on, and a way to queue it. */
export interface BuildQueue {
  /** The id of the sandbox image a language's runtimes are built FROM (part of their content hash). */
  baseImageId(language: RuntimeLanguage): Promise<string>;
  /** Builds the revision's image, unless it exists or is being built; statuses follow in the store. */
  enqueue(revision: RuntimeRevisionRecord): void;
  /** Asks the image sweep to run soon (after a runtime was deleted). */
  sweepSoon(): void;
  /** Whether the engine has the image of `imageKey` (one removed outside kiln is built again). */
  built(imageKey: string): Promise<boolean>;
  /**
   * For a revision whose build succeeded: `ready` when this engine has its image; else its build
   * here starts (the image was built on another replica's engine, or removed) and this says
   * `building`, or `failed` with the reason when such a build failed a moment ago.
   */
  ensureImage(revision: RuntimeRevisionRecord): Promise<{ state: 'ready' | 'building' } | { state: 'failed'; reason: string }>;
}

/**
 * Runs builds off the request path: at most KILN_BUILD_CONCURRENCY at once, each capped by
 * KILN_BUILD_TIMEOUT_SECONDS, one per image key however many revisions share it. Statuses live in
 * the store, so that a build cut short by a stop is found `pending` or `building` at the next
 * start and run again (resume). A sweep removes the images no revision names any more.
 */
export function createBuilder(deps: {
  store: RuntimeStore;
  images: DockerImages;
  runBuildBox: RunBuildBox;
  registry: Record<RuntimeLanguage, Runtime>;
  config: Config;
  log: Logger;
}) {
  const { store, images, config, log } = deps;
  const queue = new PQueue({ concurrency: config.KILN_BUILD_CONCURRENCY });
  const inFlight = new Map<string, AbortController>();
  let closed = false;
  let sweepTimer: NodeJS.Timeout | undefined;
  const now = () => new Date().toISOString();
  /** Builds for this engine alone of revisions already built elsewhere: the last failure, by key, kept a minute. */
  const localFailures = new Map<string, { reason: string; until: number }>();

  async function baseImageId(language: RuntimeLanguage): Promise<string> {
    const image = deps.registry[language].image;
    const id = await images.id(image);
    if (!id) throw new Error(`sandbox image ${image} is missing: run \`npm run images\``);
    return id;
  }

  /**
   * Builds a revision's image. `recorded`: its revisions' statuses follow in the store (a new
   * revision). Otherwise the store already says succeeded (another replica built it on its engine)
   * and only this engine's image is made; a failure is kept in localFailures.
   */
  async function build(revision: RuntimeRevisionRecord, stop: AbortController, recorded: boolean): Promise<void> {
    const key = revision.imageKey;
    const tag = runtimeImageTag(key);
    // nothing waits for this key any more (its revisions were deleted, or a build already ended them)
    if (recorded && (await store.moveBuilds(key, ['pending', 'building'], 'building', now())) === 0) return;
    if (await images.id(tag)) {
      if (recorded)
        await store.finishBuilds(key, { status: 'succeeded', failureReason: null, log: `image ${tag} already built\n`, at: now() });
      return;
    }
    const failedHere = (reason: string) => void localFailures.set(key, { reason, until: Date.now() + 60_000 });
    const started = performance.now();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop.abort(`the build ran past its ${config.KILN_BUILD_TIMEOUT_SECONDS} s limit (KILN_BUILD_TIMEOUT_SECONDS)`);
    }, config.KILN_BUILD_TIMEOUT_SECONDS * 1000);
    try {
      const imports = revision.additionalPythonImports ? parsePythonImports(revision.additionalPythonImports) : [];
      const base = await baseImageId(revision.language);
      const outcome = await deps.runBuildBox(revision, imports, stop.signal, async (tree) => {
        const context = treeContext(tree, {
          base,
          dest: revision.language === 'python' ? INSTALL.python.export : INSTALL.javascript.export,
          limits: { maxBytes: config.KILN_BUILD_DISK_MIB * 1024 * 1024, maxEntries: 200_000 },
        });
        await images.build(context, tag, { 'kiln.runtime-key': key, 'kiln.instance': config.KILN_INSTANCE });
      });
      if (stop.signal.aborted && closed) return; // kiln is stopping: the next start builds it again
      const ms = Math.round(performance.now() - started);
      if (outcome.ok) log.info({ imageKey: key, ms, recorded }, 'runtime build succeeded');
      else log.info({ imageKey: key, ms, recorded, reason: outcome.reason.slice(-300) }, 'runtime build failed');
      if (!recorded) return outcome.ok ? void localFailures.delete(key) : failedHere(outcome.reason);
      await store.finishBuilds(
        key,
        outcome.ok
          ? { status: 'succeeded', failureReason: null, log: outcome.log, at: now() }
          : {
              status: stop.signal.aborted && !timedOut ? 'cancelled' : 'failed',
              failureReason: outcome.reason,
              log: outcome.log,
              at: now(),
            },
      );
    } catch (error) {
      if (closed) return;
      const reason =
        error instanceof TreeRefused
          ? `the installed packages were refused: ${error.message}`
          : `the build could not finish: ${(error as Error).message}`;
      log.warn({ imageKey: key, err: String(error) }, 'runtime build failed');
      if (!recorded) return failedHere(reason);
      await store.finishBuilds(key, { status: 'failed', failureReason: reason, log: `${reason}\n`, at: now() });
    } finally {
      clearTimeout(timer);
    }
  }

  // keys asked for again while their build was finishing: its outcome may have been written just
  // before their revision was, so they get one more (quick) pass once it is over
  const again = new Map<string, RuntimeRevisionRecord>();
  function enqueue(revision: RuntimeRevisionRecord, recorded = true): void {
    if (closed) return;
    if (inFlight.has(revision.imageKey)) return void (recorded && again.set(revision.imageKey, revision));
    const stop = new AbortController();
    inFlight.set(revision.imageKey, stop);
    void queue
      .add(() => build(revision, stop, recorded))
      .catch((error: unknown) => log.error({ err: error, imageKey: revision.imageKey }, 'runtime build: could not record its outcome'))
      .finally(() => {
        inFlight.delete(revision.imageKey);
        const next = again.get(revision.imageKey);
        if (next && again.delete(revision.imageKey)) enqueue(next);
      });
  }

  async function sweep(): Promise<number> {
    // builds queued before the store is read: their revisions are in it (a revision is stored before its build is queued)
    const running = [...inFlight.entries()];
    const keep = await store.imageKeysInUse();
    // a build no revision waits for any more (its runtime was deleted) is stopped
    for (const [key, stop] of running) if (!keep.has(key)) stop.abort('the build was cancelled: no revision needs it any more');
    const candidates = (await images.listRuntimeImages(config.KILN_INSTANCE)).filter((tag) => {
      const key = tag.startsWith('kiln-runtime:') ? tag.slice('kiln-runtime:'.length) : null;
      return key && !keep.has(key) && !inFlight.has(key);
    });
    if (!candidates.length) return 0;
    // read again: a revision made meanwhile may name an image just built
    const still = await store.imageKeysInUse();
    let removed = 0;
    for (const tag of candidates) {
      if (still.has(tag.slice('kiln-runtime:'.length))) continue;
      if (await images.remove(tag).catch(() => false)) removed++;
    }
    if (removed) log.info({ removed }, 'runtime images no revision names were removed');
    return removed;
  }
  const sweepSafely = () => void sweep().catch((error: unknown) => log.warn({ err: String(error) }, 'runtime image sweep failed'));

  return {
    enqueue,
    sweepSoon: () => void setTimeout(sweepSafely, 1000).unref(),
    baseImageId,
    built: async (imageKey: string) => (await images.id(runtimeImageTag(imageKey))) !== null,
    async ensureImage(revision: RuntimeRevisionRecord) {
      if (await images.id(runtimeImageTag(revision.imageKey))) return { state: 'ready' as const };
      const failed = localFailures.get(revision.imageKey);
      if (failed && failed.until > Date.now()) return { state: 'failed' as const, reason: failed.reason };
      enqueue(revision, false);
      return { state: 'building' as const };
    },
    sweep,
    /** At start: builds left pending or building by an earlier run are run again; the sweep starts. */
    async resume(): Promise<number> {
      const left = await store.buildsWithStatus(['pending', 'building']);
      for (const revision of left) {
        await store.moveBuilds(revision.imageKey, ['building'], 'pending', now());
        enqueue(revision);
      }
      if (left.length) log.info({ builds: left.length }, 'resuming runtime builds an earlier run left');
      sweepSafely();
      sweepTimer = setInterval(sweepSafely, SWEEP_EVERY_MS).unref();
      return left.length;
    },
    /** Cancels a key's build (its revisions end `cancelled`). */
    cancel(imageKey: string): boolean {
      const stop = inFlight.get(imageKey);
      stop?.abort('the build was cancelled');
      return !!stop;
    },
    /** Stops every build; their revisions stay pending/building and are resumed at the next start. */
    async close(): Promise<void> {
      closed = true;
      clearInterval(sweepTimer);
      queue.clear();
      for (const stop of inFlight.values()) stop.abort('kiln is stopping');
      await queue.onIdle();
    },
  };
}

export type Builder = ReturnType<typeof createBuilder>;
