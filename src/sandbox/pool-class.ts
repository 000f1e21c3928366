import type { ContainerCreateOptions } from 'dockerode';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { SandboxHandle } from './docker.js';

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

/** A warm box on the shelf; its timer recycles it if it waits too long. */
export interface Entry {
  sandbox: SandboxHandle;
  idleTimer: NodeJS.Timeout;
}

/** A request waiting for the next box of its class. */
export interface Waiter {
  resolve: (sandbox: SandboxHandle) => void;
  reject: (error: unknown) => void;
}

/** Everything the pool knows about one class, in one place. */
export interface ClassState {
  poolClass: PoolClass;
  /** One of the classes kiln started with: only those count towards "warm", and they are never removed. */
  stock: boolean;
  ready: Entry[];
  waiters: Waiter[];
  /** Boxes being started for it now. */
  starting: number;
  /** Failed starts in a row; the back-off grows with them. */
  failures: number;
  /** Until then (epoch ms), no start unless a request waits. */
  backoffUntil: number;
  backoffTimer?: NodeJS.Timeout;
  /** Latched once it has been full (stock classes only). */
  filled: boolean;
}

export const newClassState = (poolClass: PoolClass, stock: boolean): ClassState => ({
  poolClass,
  stock,
  ready: [],
  waiters: [],
  starting: 0,
  failures: 0,
  backoffUntil: 0,
  filled: poolClass.size === 0,
});

/** Boxes to start for the class: each waiting request has a start of its own, besides the pool's size. */
export const missing = (s: ClassState) => s.poolClass.size + s.waiters.length - s.ready.length - s.starting;

/** What the pool's parts share: the class records (in the order refills take turns) and the pool's life. */
export interface PoolCore {
  states: Map<PoolClass, ClassState>;
  closed: boolean;
  log: Logger;
  /** Keeps a start or removal in view: close() waits for it, so that no container outlives kiln. */
  track(p: Promise<unknown>): void;
  /** Removes a box in the background (tracked). */
  dispose(sandbox: SandboxHandle): void;
}

export function createPoolCore(classes: PoolClass[], log: Logger): PoolCore & { settled(): Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  const core = {
    states: new Map(classes.map((c) => [c, newClassState(c, true)])),
    closed: false,
    log,
    track(p: Promise<unknown>) {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
    dispose: (sandbox: SandboxHandle) => core.track(sandbox.remove().catch(() => {})),
    async settled() {
      // a start that settles meanwhile tracks the removal of its box: wait for those too
      while (inFlight.size) await Promise.all([...inFlight]);
    },
  };
  return core;
}

/**
 * The `kiln_pool_ready` gauge and the warm latch: each stock class is latched warm once it has been
 * full; until all are, kiln answers, but not all at warm speed.
 */
export function createWarmth(stock: ClassState[], metrics: Metrics) {
  const callbacks: (() => void)[] = [];
  const warm = () => stock.every((s) => s.filled);
  return {
    report(s: ClassState): void {
      if (!s.stock) return;
      metrics.poolReady.set({ language: s.poolClass.language }, s.ready.length);
      if (s.filled || s.ready.length < s.poolClass.size) return;
      s.filled = true;
      if (warm()) for (const callback of callbacks.splice(0)) callback();
    },
    /** Null once the pools have been full for the first time; until then, how full they are. */
    warming(): string | null {
      if (warm()) return null;
      return stock
        .filter((s) => !s.filled)
        .map((s) => `${s.poolClass.name} ${s.ready.length}/${s.poolClass.size}`)
        .join(', ');
    },
    /** Calls back (once) when every pool has been full. */
    onWarm(callback: () => void): void {
      if (warm()) callback();
      else callbacks.push(callback);
    },
  };
}
