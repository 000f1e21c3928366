import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Runtime } from './runtime.js';
import { buildContainerSpec, sandboxLimits } from './container-spec.js';
import type { DockerClient, SandboxHandle } from './docker.js';
import { createPool, type PoolClass } from './pool.js';

/**
 * After its exit frame the wrapper ends its box by itself (PID 1 exits, the kernel ends the rest).
 * Removing a stopped container costs the engine about a third of the CPU of killing a running one,
 * so removal waits for that, this long at most; a box still running then is killed.
 */
const STOP_GRACE_MS = 2000;

/** A box lent for one execution; `release` once its answer is out. */
export interface Lease {
  sandbox: SandboxHandle;
  pooled: boolean;
}

/** Resolves when the box's streams close (it stopped), or after `ms`. */
function untilStopped(sandbox: SandboxHandle, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    sandbox.onClose(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Hands out sandboxes: a warm one from the pool of exactly this runtime (image and warm-up) at
 * exactly this memory limit, or a fresh one built from the same spec factory; never a box of
 * another image or a looser limit. It also takes each box back: removal, and the pool's refill,
 * happen once the answer is on its way.
 */
export function createSandboxProvider(deps: {
  docker: DockerClient;
  config: Config;
  log: Logger;
  metrics: Metrics;
  boot: string;
  caPem: string;
  /** The runtimes that get warm pools (at the default memory limit, sized by `poolSize`). */
  runtimes: Runtime[];
}) {
  const { docker, config, log } = deps;
  const specFor = (runtime: Runtime, memoryMiB: number, labels: Record<string, string>) =>
    buildContainerSpec({
      image: runtime.image,
      instance: config.KILN_INSTANCE,
      boot: deps.boot,
      caPem: deps.caPem,
      labels,
      limits: sandboxLimits(config, memoryMiB),
      warmEnv: runtime.warmEnv,
      ociRuntime: config.KILN_OCI_RUNTIME,
    });

  const classes: PoolClass[] = deps.runtimes.map((runtime) => ({
    name: runtime.key,
    language: runtime.language,
    runtimeKey: runtime.key,
    image: runtime.image,
    memoryMiB: config.KILN_DEFAULT_MEMORY_MIB,
    size: runtime.poolSize,
    spec: specFor(runtime, config.KILN_DEFAULT_MEMORY_MIB, { 'kiln.pool': runtime.key }),
  }));
  const pool = createPool({
    docker,
    classes,
    refillConcurrency: config.KILN_POOL_REFILL_CONCURRENCY,
    maxIdleMs: config.KILN_POOL_MAX_IDLE_SECONDS * 1000,
    log,
    metrics: deps.metrics,
  });
  const removals = new Set<Promise<void>>();

  // Pools of custom runtime revisions: made on a revision's first run at the default memory limit,
  // removed after KILN_RUNTIME_POOL_IDLE_SECONDS without one.
  const added = new Map<string, { poolClass: PoolClass; lastUsed: number }>();
  const idleMs = config.KILN_RUNTIME_POOL_IDLE_SECONDS * 1000;
  const retire = setInterval(
    () => {
      for (const [key, entry] of added)
        if (Date.now() - entry.lastUsed > idleMs) {
          pool.removeClass(entry.poolClass);
          added.delete(key);
          log.info({ pool: key }, 'pool: removed a custom runtime pool unused for a while');
        }
    },
    Math.min(30_000, idleMs),
  ).unref();
  const isStock = (runtime: Runtime) => deps.runtimes.some((r) => r.key === runtime.key);
  function addedClassFor(runtime: Runtime, memoryMiB: number): PoolClass | null {
    if (isStock(runtime) || runtime.poolSize === 0 || memoryMiB !== config.KILN_DEFAULT_MEMORY_MIB) return null;
    let entry = added.get(runtime.key);
    if (!entry) {
      const poolClass: PoolClass = {
        name: runtime.key,
        language: runtime.language,
        runtimeKey: runtime.key,
        image: runtime.image,
        memoryMiB,
        size: runtime.poolSize,
        spec: specFor(runtime, memoryMiB, { 'kiln.pool': runtime.key }),
      };
      pool.addClass(poolClass);
      entry = { poolClass, lastUsed: Date.now() };
      added.set(runtime.key, entry);
    }
    entry.lastUsed = Date.now();
    return entry.poolClass;
  }

  return {
    /** A box for execution `executionId`: warm when a pool serves exactly this runtime and memory. */
    async acquire(runtime: Runtime, memoryMiB: number, executionId: string): Promise<Lease> {
      const poolClass = addedClassFor(runtime, memoryMiB) ?? pool.classFor(runtime.key, runtime.image, memoryMiB);
      const sandbox = poolClass
        ? await pool.acquire(poolClass)
        : await docker.startSandbox(specFor(runtime, memoryMiB, { 'kiln.execution': executionId, 'kiln.language': runtime.language }));
      log.debug({ execution: executionId, container: sandbox.id, pooled: !!poolClass }, 'sandbox assigned');
      return { sandbox, pooled: !!poolClass };
    },
    /**
     * Takes a used box back. Removal and refill are cleanup, not part of the answer: they start once
     * the answer is on its way (their Docker requests would otherwise delay it); close() waits for them.
     */
    release(lease: Lease): void {
      const { sandbox } = lease;
      const removal = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => {
          if (lease.pooled) pool.replenish();
          return untilStopped(sandbox, STOP_GRACE_MS);
        })
        .then(() => sandbox.remove())
        .catch((err) => log.warn({ err, container: sandbox.id }, 'could not remove sandbox'))
        .finally(() => removals.delete(removal));
      removals.add(removal);
    },
    /** Starts refilling the pools now: a session keeps its box, so its place is filled without waiting for a release. */
    refill: () => pool.replenish(),
    start: pool.start,
    warming: pool.warming,
    onWarm: pool.onWarm,
    /** Stops refilling, removes the waiting boxes, and waits until every used box has been removed. */
    async close(): Promise<void> {
      clearInterval(retire);
      await pool.close();
      await Promise.all([...removals]);
    },
  };
}

export type SandboxProvider = ReturnType<typeof createSandboxProvider>;
