import PQueue from 'p-queue';
import type { RuntimeLanguage, RuntimeRevisionRecord } from '../../store/runtimes/records.js';
import { baseImageId, type BuildDeps, buildImage, runtimeImageTag } from './image-build.js';
import { sweepImages } from './image-sweep.js';
import { createLiveLogs, type LiveLog } from './live-logs.js';

export { runtimeImageTag } from './image-build.js';

const SWEEP_EVERY_MS = 10 * 60_000;
/** How long a failed build for this engine alone is answered from memory, before it is tried again. */
const LOCAL_FAILURE_MS = 60_000;

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
  /** The log of the build of `imageKey` while this process runs it (the console follows it). */
  liveLog(imageKey: string): LiveLog | undefined;
}

/** What the builder keeps about one image key, in one record. */
interface KeyState {
  /** Set while its build is queued or running: aborting it stops the build. */
  stop: AbortController | null;
  /**
   * A revision asked for again while the build was finishing: its outcome may have been written
   * just before that revision was, so it gets one more (quick) pass once the build is over.
   */
  again: RuntimeRevisionRecord | null;
  /** A build for this engine alone (of a revision built elsewhere) that failed: answered from here for a minute. */
  failure: { reason: string; until: number } | null;
}

/**
 * Runs builds off the request path: at most KILN_BUILD_CONCURRENCY at once, each capped by
 * KILN_BUILD_TIMEOUT_SECONDS, one per image key however many revisions share it. Statuses live in
 * the store, so that a build cut short by a stop is found `pending` or `building` at the next
 * start and run again (resume). A sweep removes the images no revision names any more.
 */
export function createBuilder(deps: BuildDeps) {
  const { store, images, config, log } = deps;
  const queue = new PQueue({ concurrency: config.KILN_BUILD_CONCURRENCY });
  const keys = new Map<string, KeyState>();
  const liveLogs = createLiveLogs();
  const stateOf = (key: string) => {
    let state = keys.get(key);
    if (!state) {
      state = { stop: null, again: null, failure: null };
      keys.set(key, state);
    }
    return state;
  };
  /** A key's record goes once nothing of it is left to keep. */
  const tidy = (key: string, state: KeyState) => {
    if (!state.stop && !state.again && !state.failure && keys.get(key) === state) keys.delete(key);
  };
  let closed = false;
  let sweepTimer: NodeJS.Timeout | undefined;

  const builtHere = (key: string, failure: string | null) => {
    const state = stateOf(key);
    state.failure = failure === null ? null : { reason: failure, until: Date.now() + LOCAL_FAILURE_MS };
    tidy(key, state);
  };
  const building = () => [...keys].flatMap(([key, s]): [string, AbortController][] => (s.stop ? [[key, s.stop]] : []));

  function enqueue(revision: RuntimeRevisionRecord, recorded = true): void {
    if (closed) return;
    const key = revision.imageKey;
    const state = stateOf(key);
    if (state.stop) {
      if (recorded) state.again = revision;
      return;
    }
    const stop = new AbortController();
    state.stop = stop;
    void queue
      .add(() => buildImage({ ...deps, closed: () => closed, builtHere, liveLogs }, revision, stop, recorded))
      .catch((error: unknown) => log.error({ err: error, imageKey: key }, 'runtime build: could not record its outcome'))
      .finally(() => {
        state.stop = null;
        const next = state.again;
        state.again = null;
        tidy(key, state);
        if (next) enqueue(next);
      });
  }

  const sweep = () => sweepImages({ store, images, instance: config.KILN_INSTANCE, log }, building);
  const sweepSafely = () => void sweep().catch((error: unknown) => log.warn({ err: String(error) }, 'runtime image sweep failed'));

  return {
    enqueue,
    sweepSoon: () => void setTimeout(sweepSafely, 1000).unref(),
    baseImageId: (language: RuntimeLanguage) => baseImageId(deps, language),
    liveLog: liveLogs.get,
    /** Builds queued or running here now. */
    queued: () => queue.size + queue.pending,
    built: async (imageKey: string) => (await images.id(runtimeImageTag(imageKey))) !== null,
    async ensureImage(revision: RuntimeRevisionRecord) {
      if (await images.id(runtimeImageTag(revision.imageKey))) return { state: 'ready' as const };
      const failed = keys.get(revision.imageKey)?.failure;
      if (failed && failed.until > Date.now()) return { state: 'failed' as const, reason: failed.reason };
      enqueue(revision, false);
      return { state: 'building' as const };
    },
    sweep,
    /** At start: builds left pending or building by an earlier run are run again; the sweep starts. */
    async resume(): Promise<number> {
      const left = await store.buildsWithStatus(['pending', 'building']);
      for (const revision of left) {
        await store.moveBuilds(revision.imageKey, ['building'], 'pending', new Date().toISOString());
        enqueue(revision);
      }
      if (left.length) log.info({ builds: left.length }, 'resuming runtime builds an earlier run left');
      sweepSafely();
      sweepTimer = setInterval(sweepSafely, SWEEP_EVERY_MS).unref();
      return left.length;
    },
    /** Cancels a key's build (its revisions end `cancelled`). */
    cancel(imageKey: string): boolean {
      const stop = keys.get(imageKey)?.stop;
      stop?.abort('the build was cancelled');
      return !!stop;
    },
    /** Stops every build; their revisions stay pending/building and are resumed at the next start. */
    async close(): Promise<void> {
      closed = true;
      clearInterval(sweepTimer);
      queue.clear();
      for (const [, stop] of building()) stop.abort('kiln is stopping');
      await queue.onIdle();
    },
  };
}

export type Builder = ReturnType<typeof createBuilder>;
