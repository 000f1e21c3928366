import type { ContainerCreateOptions } from 'dockerode';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { DockerClient, SandboxHandle } from './docker.js';

/** One class of interchangeable sandboxes: same image, same creation-time limits. */
export interface PoolClass {
  /** Stable name for metrics and logs, e.g. `python`. */
  name: string;
  /** The language it serves, for the `kiln_pool_ready{language}` gauge. */
  language: string;
  /** The runtime whose boxes it holds (see Runtime.key) and their image. */
  runtimeKey: string;
  image: string;
  memoryMiB: number;
  size: number;
  spec: ContainerCreateOptions;
}

/** How long a started box may take to say its harness is warm (it takes a fraction of a second). */
const READY_TIMEOUT_MS = 30_000;

interface Entry {
  sandbox: SandboxHandle;
  idleTimer: NodeJS.Timeout;
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
  const { docker, log, metrics } = deps;
  // the classes kiln starts with (one per language), and those added while it runs (one per custom
  // runtime revision in use, removed again after idle); only the first count towards "warm"
  const classes = [...deps.classes];
  const ready = new Map<PoolClass, Entry[]>(deps.classes.map((c) => [c, []]));
  const starting = new Map<PoolClass, number>(deps.classes.map((c) => [c, 0]));
  const waiters = new Map<PoolClass, { resolve: (s: SandboxHandle) => void; reject: (e: unknown) => void }[]>(
    deps.classes.map((c) => [c, []]),
  );
  const failures = new Map<PoolClass, number>(deps.classes.map((c) => [c, 0]));
  let refilling = 0;
  let closed = false;
  // containers being started or removed: shutdown waits for them, so that none outlives kiln
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  // Each class is latched warm once it has been full; until all are, kiln answers, but not all at warm speed.
  const filled = new Set<PoolClass>(deps.classes.filter((c) => c.size === 0));
  const onWarm: (() => void)[] = [];
  const report = (c: PoolClass) => {
    if (!deps.classes.includes(c)) return;
    metrics.poolReady.set({ language: c.language }, ready.get(c)!.length);
    if (filled.has(c) || ready.get(c)!.length < c.size) return;
    filled.add(c);
    if (filled.size === deps.classes.length) for (const callback of onWarm.splice(0)) callback();
  };

  function discard(c: PoolClass, entry: Entry, why: string) {
    const list = ready.get(c)!;
    const at = list.indexOf(entry);
    if (at < 0) return;
    list.splice(at, 1);
    clearTimeout(entry.idleTimer);
    report(c);
    log.info({ pool: c.name, container: entry.sandbox.id, why }, 'pool: replacing a sandbox');
    track(entry.sandbox.remove().catch(() => {}));
    refill();
  }

  function deliver(c: PoolClass, sandbox: SandboxHandle) {
    const waiter = waiters.get(c)!.shift();
    if (waiter) return waiter.resolve(sandbox);
    if (!classes.includes(c)) return void track(sandbox.remove().catch(() => {})); // its class was removed meanwhile
    const entry: Entry = {
      sandbox,
      // a box that waited too long is recycled, so that no pool holds stale containers for ever
      idleTimer: setTimeout(() => discard(c, entry, 'idle too long'), deps.maxIdleMs).unref(),
    };
    ready.get(c)!.push(entry);
    // a box that died while waiting (Docker restarted, someone removed it) is replaced
    sandbox.onClose(() => discard(c, entry, 'died while waiting'));
    report(c);
  }

  // started, and waiting for their harness to say it is warm: shutdown removes them at once
  const warmingUp = new Set<SandboxHandle>();
  const backoffUntil = new Map<PoolClass, number>(deps.classes.map((c) => [c, 0]));
  const backoffTimers = new Map<PoolClass, NodeJS.Timeout>();
  const missing = (c: PoolClass) => c.size + waiters.get(c)!.length - ready.get(c)!.length - starting.get(c)!;

  function startOne(c: PoolClass): void {
    refilling++;
    starting.set(c, starting.get(c)! + 1);
    const timer = metrics.poolRefill.startTimer({ pool: c.name });
    const started = docker
      .startSandbox(c.spec)
      // handed out only once its harness is warm: a box that cannot get there is a failed start
      .then((sandbox) => {
        warmingUp.add(sandbox);
        if (closed) track(sandbox.remove().catch(() => {})); // ends its wait for ready at once
        return sandbox
          .ready(READY_TIMEOUT_MS)
          .finally(() => warmingUp.delete(sandbox))
          .then(
            () => sandbox,
            (error: unknown) => {
              track(sandbox.remove().catch(() => {}));
              if (!closed) log.warn({ pool: c.name, container: sandbox.id, err: String(error) }, 'pool: a sandbox did not get ready');
              throw new AppError('SANDBOX_UNAVAILABLE', `a ${c.name} sandbox did not get ready; retry later`, [
                { reason: 'sandbox_not_ready' },
              ]);
            },
          );
      })
      .then(
        (sandbox) => {
          timer();
          failures.set(c, 0);
          backoffUntil.set(c, 0);
          if (closed) return sandbox.remove().catch(() => {});
          deliver(c, sandbox);
        },
        (error: unknown) => {
          // Docker down or refusing: the request this start was for gets the error now (a 503, as a fresh
          // start would; each waiting request has a start of its own, so a passing fault fails one, not all);
          // this class backs off and tries again, so the pool rebuilds itself when Docker is back
          waiters.get(c)!.shift()?.reject(error);
          if (closed) return;
          const n = failures.get(c)! + 1;
          failures.set(c, n);
          if (n === 1 || n % 20 === 0) log.warn({ pool: c.name, err: String(error) }, 'pool: could not start a sandbox; retrying');
          const delay = Math.min(5000, 100 * 2 ** Math.min(n, 6));
          backoffUntil.set(c, Date.now() + delay);
          clearTimeout(backoffTimers.get(c));
          backoffTimers.set(c, setTimeout(refill, delay).unref());
        },
      )
      .finally(() => {
        refilling--;
        starting.set(c, starting.get(c)! - 1);
        refill();
      });
    track(started);
  }

  /**
   * Starts containers until every class is full, one class after another so that none
   * starves the rest, never more than refillConcurrency at once. A class that failed
   * waits out its back-off, unless a request is waiting for it.
   */
  let turn = 0;
  function refill(): void {
    let progress = true;
    while (!closed && progress && refilling < deps.refillConcurrency) {
      progress = false;
      // classes with requests waiting first, then the others, starting one further each time: none starves
      turn = (turn + 1) % Math.max(1, classes.length);
      const order = [...classes.slice(turn), ...classes.slice(0, turn)].sort(
        (a, b) => Number(waiters.get(b)!.length > 0) - Number(waiters.get(a)!.length > 0),
      );
      for (const c of order) {
        if (refilling >= deps.refillConcurrency) break;
        if (missing(c) <= 0) continue;
        if (backoffUntil.get(c)! > Date.now() && waiters.get(c)!.length === 0) continue;
        startOne(c);
        progress = true;
      }
    }
  }

  return {
    /** The class that serves exactly this runtime, image and memory limit; null means: start a fresh container. */
    classFor(runtimeKey: string, image: string, memoryMiB: number): PoolClass | null {
      return classes.find((c) => c.size > 0 && c.runtimeKey === runtimeKey && c.image === image && c.memoryMiB === memoryMiB) ?? null;
    },
    /** A warm sandbox of the class: at once when one is ready, else the next one started. */
    acquire(c: PoolClass): Promise<SandboxHandle> {
      let entry = ready.get(c)!.shift();
      while (entry && !entry.sandbox.alive()) {
        clearTimeout(entry.idleTimer);
        track(entry.sandbox.remove().catch(() => {}));
        entry = ready.get(c)!.shift();
      }
      if (entry) {
        // no refill here: starting a container now would compete with this request for the CPU;
        // the runner calls replenish() once it has answered
        clearTimeout(entry.idleTimer);
        report(c);
        return Promise.resolve(entry.sandbox);
      }
      const next = new Promise<SandboxHandle>((resolve, reject) => waiters.get(c)!.push({ resolve, reject }));
      refill();
      return next;
    },
    start: refill,
    /** Adds a class (a custom runtime revision's boxes); it fills like the others. */
    addClass(c: PoolClass): void {
      if (closed || classes.includes(c)) return;
      classes.push(c);
      for (const map of [ready, waiters] as Map<PoolClass, unknown[]>[]) map.set(c, []);
      starting.set(c, 0);
      failures.set(c, 0);
      backoffUntil.set(c, 0);
      refill();
    },
    /** Removes an added class and its waiting boxes (it went unused); starts in flight are removed as they land. */
    removeClass(c: PoolClass): void {
      const at = classes.indexOf(c);
      if (at < 0 || deps.classes.includes(c)) return;
      classes.splice(at, 1);
      for (const entry of ready.get(c)!.splice(0)) {
        clearTimeout(entry.idleTimer);
        track(entry.sandbox.remove().catch(() => {}));
      }
      for (const waiter of waiters.get(c)!.splice(0)) waiter.reject(new AppError('SANDBOX_UNAVAILABLE', 'the pool was removed; retry'));
    },
    /** Null once the pools have been full for the first time; until then, how full they are. */
    warming(): string | null {
      if (filled.size === deps.classes.length) return null;
      return deps.classes
        .filter((c) => !filled.has(c))
        .map((c) => `${c.name} ${ready.get(c)!.length}/${c.size}`)
        .join(', ');
    },
    /** Calls back (once) when every pool has been full. */
    onWarm(callback: () => void): void {
      if (filled.size === deps.classes.length) callback();
      else onWarm.push(callback);
    },
    /** Tops the pools up again (after an answer, off the request path). */
    replenish: refill,
    /** Stops refilling and removes every waiting container. */
    async close(): Promise<void> {
      closed = true;
      for (const timer of backoffTimers.values()) clearTimeout(timer);
      for (const list of waiters.values())
        for (const waiter of list.splice(0)) waiter.reject(new AppError('SANDBOX_UNAVAILABLE', 'kiln is shutting down'));
      for (const sandbox of warmingUp) track(sandbox.remove().catch(() => {}));
      const all = [...ready.entries()].flatMap(([c, list]) =>
        list.splice(0).map((e) => {
          clearTimeout(e.idleTimer);
          report(c);
          return e;
        }),
      );
      for (const entry of all) track(entry.sandbox.remove().catch(() => {}));
      // a start that settles now tracks the removal of its box: wait for those too
      while (inFlight.size) await Promise.all([...inFlight]);
    },
  };
}

export type Pool = ReturnType<typeof createPool>;
