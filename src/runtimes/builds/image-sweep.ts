import type { Logger } from 'pino';
import type { DockerImages } from '../../sandbox/docker-images.js';
import type { RuntimeStore } from '../../store/runtimes/records.js';
import { imageKeyOfTag } from './image-build.js';

/**
 * Removes this instance's runtime images that no revision names any more (and those an older box
 * protocol's kiln built, which this one cannot run), and stops the builds no
 * revision waits for. `building` is read before the store, so that every build it lists has its
 * revision in what the store answers (a revision is stored before its build is queued).
 */
export async function sweepImages(
  deps: { store: RuntimeStore; images: DockerImages; instance: string; log: Logger },
  building: () => [imageKey: string, stop: AbortController][],
): Promise<number> {
  const running = building();
  const keep = await deps.store.imageKeysInUse();
  // a build no revision waits for any more (its runtime was deleted) is stopped
  for (const [key, stop] of running) if (!keep.has(key)) stop.abort('the build was cancelled: no revision needs it any more');
  const tags = await deps.images.listRuntimeImages(deps.instance);
  const inFlight = new Set(building().map(([key]) => key));
  const candidates = tags.filter((tag) => {
    if (!tag.startsWith('kiln-runtime:')) return false; // a tag someone else gave it
    const key = imageKeyOfTag(tag);
    return key === null || (!keep.has(key) && !inFlight.has(key));
  });
  if (!candidates.length) return 0;
  // read again: a revision made meanwhile may name an image just built
  const still = await deps.store.imageKeysInUse();
  let removed = 0;
  for (const tag of candidates) {
    const key = imageKeyOfTag(tag);
    if (key !== null && still.has(key)) continue;
    if (await deps.images.remove(tag).catch(() => false)) removed++;
  }
  if (removed) deps.log.info({ removed }, 'runtime images no revision names were removed');
  return removed;
}
