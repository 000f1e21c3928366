import type { Logger } from 'pino';
import type { InvocationStore } from '../store/invocations/records.js';

/** The rule for an invocation that was running when its kiln died: at most once, never run again. */
export const INTERRUPTED_REASON = 'kiln stopped while it ran; it is not run again (at most once)';
/** How often a kiln looks for cancels of what it runs; every few of these it says it is alive and looks for kilns that stopped. */
export const TICK_MS = 1_000;
/** Heartbeats come at least five times per replica timeout (so a busy moment is never taken for death), and at most every 5 s. */
const heartbeatTicks = (replicaTimeoutMs: number) => Math.max(1, Math.min(5, Math.floor(replicaTimeoutMs / 5 / TICK_MS)));

/**
 * Heartbeat, orphans and remote cancels: what keeps the invocations of several kilns on one store
 * straight. A tick says this kiln is alive and ends what kilns that stopped left running (every few
 * ticks), and stops what runs here that was cancelled through another kiln (every tick).
 */
export function createHousekeeping(deps: {
  store: InvocationStore;
  log: Logger;
  owner: string;
  replicas?: { instance: string; replicaTimeoutMs: number; url?: string | null };
  onEnded?: () => void;
  /** The invocations running here now. */
  runningIds: () => string[];
  /** Stops one of them (a cancel through another kiln). */
  abort: (id: string) => void;
}) {
  const { store } = deps;
  let ticks = 0;
  let heardSince: number | null = null;
  const every = heartbeatTicks(deps.replicas?.replicaTimeoutMs ?? 30_000);

  /**
   * The owners whose runs stand. Alone on the embedded store: this kiln only. With replicas: every
   * kiln seen within the replica timeout — but only once this one has itself been heard without a
   * break for that long (since its start, or since the database came back), as the others needed
   * that time to be heard too; until then only an earlier process of this same instance counts as gone.
   */
  async function alive(): Promise<string[]> {
    if (!deps.replicas) return [deps.owner];
    const { instance, replicaTimeoutMs } = deps.replicas;
    const judging = heardSince !== null && Date.now() - heardSince >= replicaTimeoutMs;
    const live = await store.liveOwners(judging ? new Date(Date.now() - replicaTimeoutMs).toISOString() : new Date(0).toISOString());
    // an earlier process of this same instance (restarted since) is gone, however recently it was seen
    return [deps.owner, ...live.filter((o) => o !== deps.owner && !o.startsWith(`${instance}/`))];
  }

  /** Where the other live kilns are reached (those that said): a run this one does not hold may be on one of them. */
  async function peers(): Promise<string[]> {
    if (!deps.replicas) return [];
    const { instance, replicaTimeoutMs, url } = deps.replicas;
    const live = await store.liveUrls(new Date(Date.now() - replicaTimeoutMs).toISOString());
    return [...new Set(live.filter((r) => !r.owner.startsWith(`${instance}/`) && r.url !== url).map((r) => r.url))];
  }

  async function endOrphans(): Promise<void> {
    const orphans = await store.endOrphans(await alive(), new Date().toISOString(), INTERRUPTED_REASON);
    if (!orphans.length) return;
    deps.log.warn({ invocations: orphans }, 'invocations that were running when their kiln stopped ended as interrupted');
    deps.onEnded?.();
  }

  async function tick(): Promise<void> {
    if (ticks++ % every === 0) {
      try {
        await store.heartbeat(deps.owner, new Date().toISOString(), deps.replicas?.url ?? null);
        heardSince ??= Date.now();
      } catch (err) {
        heardSince = null; // not heard: others may take this one for dead, and it must not judge them
        throw err;
      }
      await endOrphans();
    }
    // a cancel through another kiln is written on the row: the kiln running it reads it here
    for (const id of await store.cancelRequested(deps.runningIds())) deps.abort(id);
  }

  return { tick, alive, peers };
}
