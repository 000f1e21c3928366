import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { DockerClient, SandboxHandle } from './docker.js';
import { createPoolCore, createWarmth, type ClassState, type Entry, newClassState, type PoolClass } from './pool-class.js';
import { createRefill } from './pool-refill.js';

export type { PoolClass } from './pool-class.js';

/** The next live box on the class's shelf; the dead ones met on the way are removed. */
function takeReady(s: ClassState, dispose: (sandbox: SandboxHandle) => void): Entry | undefined {
  let entry = s.ready.shift();
  while (entry && !entry.sandbox.alive()) {
    clearTimeout(entry.idleTimer);
    dispose(entry.sandbox);
    entry = s.ready.shift();
  }
  if (entry) clearTimeout(entry.idleTimer);
  return entry;
}

/**
 * Warm pools of one-shot sandboxes: containers created, attached and started
 * ahead of time, each waiting (in its wrapper) for exactly one request. A
 * request takes one with no Docker call; the pool refills in the background,
 * with at most `refillConcurrency` containers starting at once across pools.
 * A container never returns to a pool: the runner removes it after its run.
 */
export function createPool(deps: {
  docker: DockerClient;
  classes: PoolClass[];
  refillConcurrency: number;
  maxIdleMs: number;
  log: Logger;
  metrics: Metrics;
}) {
  // the classes kiln starts with (one per language), and those added while it runs (one per custom
  // runtime revision in use, removed again after idle)
  const core = createPoolCore(deps.classes, deps.log);
  const { states, log } = core;
  const warmth = createWarmth([...states.values()], deps.metrics);
  const { refill, stop } = createRefill(core, { ...deps, deliver });

  function discard(s: ClassState, entry: Entry, why: string) {
    const at = s.ready.indexOf(entry);
    if (at < 0) return;
    s.ready.splice(at, 1);
    clearTimeout(entry.idleTimer);
    warmth.report(s);
    log.info({ pool: s.poolClass.name, container: entry.sandbox.id, why }, 'pool: replacing a sandbox');
    core.dispose(entry.sandbox);
    refill();
  }

  function deliver(s: ClassState, sandbox: SandboxHandle) {
    const waiter = s.waiters.shift();
    if (waiter) return waiter.resolve(sandbox);
    if (states.get(s.poolClass) !== s) return core.dispose(sandbox); // its class was removed meanwhile
    const entry: Entry = {
      sandbox,
      // a box that waited too long is recycled, so that no pool holds stale containers for ever
      idleTimer: setTimeout(() => discard(s, entry, 'idle too long'), deps.maxIdleMs).unref(),
    };
    s.ready.push(entry);
    // a box that died while waiting (Docker restarted, someone removed it) is replaced
    sandbox.onClose(() => discard(s, entry, 'died while waiting'));
    warmth.report(s);
  }

  return {
    /** The class that serves exactly this runtime, image and memory limit; null means: start a fresh container. */
    classFor(runtimeKey: string, image: string, memoryMiB: number): PoolClass | null {
      return (
        [...states.keys()].find((c) => c.size > 0 && c.runtimeKey === runtimeKey && c.image === image && c.memoryMiB === memoryMiB) ?? null
      );
    },
    /** A warm sandbox of the class: at once when one is ready, else the next one started. */
    acquire(c: PoolClass): Promise<SandboxHandle> {
      const s = states.get(c);
      if (!s) return Promise.reject(new AppError('SANDBOX_UNAVAILABLE', 'the pool was removed; retry'));
      const entry = takeReady(s, core.dispose);
      if (entry) {
        // no refill here: starting a container now would compete with this request for the CPU;
        // the runner calls replenish() once it has answered
        warmth.report(s);
        return Promise.resolve(entry.sandbox);
      }
      const next = new Promise<SandboxHandle>((resolve, reject) => s.waiters.push({ resolve, reject }));
      refill();
      return next;
    },
    start: refill,
    /** Adds a class (a custom runtime revision's boxes); it fills like the others. */
    addClass(c: PoolClass): void {
      if (core.closed || states.has(c)) return;
      states.set(c, newClassState(c, false));
      refill();
    },
    /** Removes an added class and its waiting boxes (it went unused); starts in flight are removed as they land. */
    removeClass(c: PoolClass): void {
      const s = states.get(c);
      if (!s || s.stock) return;
      states.delete(c);
      clearTimeout(s.backoffTimer);
      for (const entry of s.ready.splice(0)) {
        clearTimeout(entry.idleTimer);
        core.dispose(entry.sandbox);
      }
      for (const waiter of s.waiters.splice(0)) waiter.reject(new AppError('SANDBOX_UNAVAILABLE', 'the pool was removed; retry'));
    },
    warming: warmth.warming,
    onWarm: warmth.onWarm,
    /** Tops the pools up again (after an answer, off the request path). */
    replenish: refill,
    /** Stops refilling and removes every waiting container. */
    async close(): Promise<void> {
      core.closed = true;
      for (const s of states.values())
        for (const waiter of s.waiters.splice(0)) waiter.reject(new AppError('SANDBOX_UNAVAILABLE', 'kiln is shutting down'));
      stop();
      const all = [...states.values()].flatMap((s) =>
        s.ready.splice(0).map((entry) => {
          clearTimeout(entry.idleTimer);
          warmth.report(s);
          return entry;
        }),
      );
      for (const entry of all) core.dispose(entry.sandbox);
      await core.settled();
    },
  };
}

export type Pool = ReturnType<typeof createPool>;
