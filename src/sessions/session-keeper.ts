/**
 * What keeps sessions to their promises while no call comes: their deadlines (a live one ends on
 * time here; a paused one ends wherever a kiln looks first), their workspace checkpointed a while
 * after activity, the sessions of kilns that are gone paused (so their deadlines run and any kiln
 * may resume them), and this kiln's stop: every session checkpointed and paused, never ended.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { SandboxProvider } from '../sandbox/provider.js';
import type { SessionEndReason, SessionRecord, SessionStore } from '../store/sessions/records.js';
import type { Checkpoints } from './session-checkpoints.js';
import type { LiveSession } from './session-open.js';

const SWEEP_MS = 1000;
/** Paused sessions' deadlines and gone kilns' sessions are looked for every few sweeps (they are store queries). */
const STORE_SWEEP_EVERY = 5;
/** At stop, how long a session's running call may take to end before its box is checkpointed anyway. */
const STOP_WAIT_MS = 5000;

export function createSessionKeeper(deps: {
  config: Config;
  store: SessionStore;
  checkpoints: Checkpoints;
  provider: Pick<SandboxProvider, 'release'>;
  log: Logger;
  owner: string;
  live: Map<string, LiveSession>;
  end(id: string, reason: SessionEndReason, detail: string | null): Promise<SessionRecord | null>;
  gone(owner: string): Promise<boolean>;
}) {
  const { config, store, log, live } = deps;
  const intervalMs = config.KILN_SESSION_CHECKPOINT_SECONDS * 1000;
  let sweeper: NodeJS.Timeout | undefined;
  let sweeps = 0;
  let stopping = false;
  /** One checkpoint at a time: each holds up to a chunk in memory, and a box's tar costs its CPU. */
  let checkpointing: Promise<unknown> = Promise.resolve();
  /** When each live session's workspace was last checkpointed (or it was opened). */
  const lastTaken = new Map<string, number>();

  /** Checkpoints a live session now; false (and logged) when it could not be. */
  async function checkpoint(session: LiveSession): Promise<boolean> {
    const { record } = session;
    session.dirty = false;
    lastTaken.set(record.id, Date.now());
    try {
      record.checkpoint = await deps.checkpoints.take(record, session.lease.sandbox);
      return true;
    } catch (err) {
      session.dirty = true;
      if (live.get(record.id) === session) log.warn({ err: String(err), session: record.id }, 'session: its checkpoint failed');
      return false;
    }
  }

  /** Live sessions past a deadline end; one idle a while after activity is checkpointed. */
  function sweepLive(now: number): void {
    for (const session of live.values()) {
      const { record } = session;
      if (now >= Date.parse(record.endsAt)) void deps.end(record.id, 'max_lifetime', null);
      else if (session.busy === 0 && now >= Date.parse(record.expiresAt)) void deps.end(record.id, 'idle_timeout', null);
      else if (intervalMs > 0 && session.dirty && session.busy === 0 && now - (lastTaken.get(record.id) ?? 0) >= intervalMs) {
        session.dirty = false; // queued: not queued again by the next sweep
        lastTaken.set(record.id, now);
        checkpointing = checkpointing.then(() => (live.get(record.id) === session ? checkpoint(session) : null));
      }
    }
    for (const id of lastTaken.keys()) if (!live.has(id)) lastTaken.delete(id);
  }

  /** Paused sessions past their deadlines end; running ones whose kiln is gone are paused (any kiln may resume them). */
  async function sweepStore(): Promise<void> {
    const expired = await store.endExpired(new Date().toISOString());
    if (expired.length) log.info({ sessions: expired.map((r) => `${r.id}:${r.endReason}`) }, 'paused sessions ended at their deadlines');
    for (const record of await store.runningElsewhere(deps.owner))
      if (await deps.gone(record.owner)) {
        await store.pause(record.project, record.id, record.owner);
        log.info({ session: record.id, owner: record.owner }, 'session paused: the kiln that held it is gone');
      }
  }

  /**
   * Checkpoints a live session (once its running call ends, or STOP_WAIT_MS), pauses it, and removes
   * its box. Asked for (`asked`), a failed checkpoint leaves it running (its files would be lost);
   * at kiln's stop it is paused all the same (its box goes either way).
   */
  async function pause(session: LiveSession, asked = false): Promise<'paused' | 'not_saved' | 'gone'> {
    const { record } = session;
    for (const until = Date.now() + STOP_WAIT_MS; session.busy > 0 && Date.now() < until; )
      await new Promise((resolve) => setTimeout(resolve, 50));
    // in the one queue of checkpoints (a sweep's may be under way)
    const taking = checkpointing.then(() => checkpoint(session));
    checkpointing = taking;
    const saved = await taking;
    if (asked && live.get(record.id) !== session) return 'gone'; // ended (or paused) meanwhile
    if (asked && !saved) return 'not_saved';
    live.delete(record.id);
    session.box.stop();
    deps.provider.release(session.lease);
    await store.pause(record.project, record.id, deps.owner);
    log.info(
      { session: record.id, checkpointed: saved, at: record.checkpoint.at },
      asked ? 'session paused' : 'session paused: kiln is stopping',
    );
    return 'paused';
  }

  return {
    /** Pauses a live session now (its workspace checkpointed, its box removed), unless its checkpoint failed or it went meanwhile. */
    pause: (session: LiveSession) => pause(session, true),
    /** Once the stop has begun no call is taken: a paused session must not be resumed by a kiln on its way out. */
    stopping: () => stopping,
    /** Pauses the sessions an earlier start of this kiln left running (their boxes died with it), and starts the sweeps. */
    async start(): Promise<void> {
      await sweepStore();
      sweeper = setInterval(() => {
        const now = Date.now();
        sweepLive(now);
        if (sweeps++ % STORE_SWEEP_EVERY === 0)
          void sweepStore().catch((err: unknown) => log.warn({ err: String(err) }, 'session: sweeping the store failed'));
      }, SWEEP_MS).unref();
    },
    /** SIGTERM: every live session is checkpointed and paused (its box goes with this kiln; its next call resumes it). */
    async stop(): Promise<void> {
      stopping = true;
      clearInterval(sweeper);
      await checkpointing;
      // two at a time: a box's tar and the store's writes overlap, without every box's at once
      const queue = [...live.values()];
      const worker = async () => {
        for (let s = queue.shift(); s; s = queue.shift())
          await pause(s).catch((err: unknown) => log.warn({ err: String(err), session: s?.record.id }, 'session: pausing it failed'));
      };
      await Promise.all([worker(), worker()]);
    },
  };
}
