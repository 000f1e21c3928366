import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { DockerClient, SandboxHandle } from './docker.js';
import { missing, type ClassState, type PoolClass, type PoolCore } from './pool-class.js';

/** How long a started box may take to say its harness is warm (it takes a fraction of a second). */
const READY_TIMEOUT_MS = 30_000;

/**
 * The wait after a class's `failures`-th failed start in a row: doubling from 200 ms, at most 5 s,
 * so that a pool rebuilds itself soon after Docker is back without hammering it while it is away.
 */
export const backoffMs = (failures: number) => Math.min(5000, 100 * 2 ** Math.min(failures, 6));

/**
 * Starts containers until every class is full, one class after another so that none starves the
 * rest, never more than `refillConcurrency` at once across classes. A class that failed waits out
 * its back-off, unless a request is waiting for it.
 */
export function createRefill(
  core: PoolCore,
  deps: {
    docker: DockerClient;
    metrics: Metrics;
    refillConcurrency: number;
    /** Hands a box that got warm to its class (a waiting request, or the shelf). */
    deliver: (s: ClassState, sandbox: SandboxHandle) => void;
  },
) {
  const { log } = core;
  let refilling = 0;
  let turn = 0;
  // started, and waiting for their harness to say it is warm: shutdown removes them at once
  const warmingUp = new Set<SandboxHandle>();

  function refill(): void {
    let progress = true;
    while (!core.closed && progress && refilling < deps.refillConcurrency) {
      progress = false;
      const states = [...core.states.values()];
      // classes with requests waiting first, then the others, starting one further each time: none starves
      turn = (turn + 1) % Math.max(1, states.length);
      const order = [...states.slice(turn), ...states.slice(0, turn)].sort(
        (a, b) => Number(b.waiters.length > 0) - Number(a.waiters.length > 0),
      );
      for (const s of order) {
        if (refilling >= deps.refillConcurrency) break;
        if (missing(s) <= 0) continue;
        if (s.backoffUntil > Date.now() && s.waiters.length === 0) continue;
        startOne(s);
        progress = true;
      }
    }
  }

  /** A started box is handed out only once its harness is warm: a box that cannot get there is a failed start. */
  async function warmBox(c: PoolClass): Promise<SandboxHandle> {
    const sandbox = await deps.docker.startSandbox(c.spec);
    warmingUp.add(sandbox);
    if (core.closed) core.dispose(sandbox); // ends its wait for ready at once
    try {
      await sandbox.ready(READY_TIMEOUT_MS).finally(() => warmingUp.delete(sandbox));
    } catch (error) {
      core.dispose(sandbox);
      if (!core.closed) log.warn({ pool: c.name, container: sandbox.id, err: String(error) }, 'pool: a sandbox did not get ready');
      throw new AppError('SANDBOX_UNAVAILABLE', `a ${c.name} sandbox did not get ready; retry later`, [{ reason: 'sandbox_not_ready' }]);
    }
    return sandbox;
  }

  function started(s: ClassState, sandbox: SandboxHandle): void {
    s.failures = 0;
    s.backoffUntil = 0;
    if (core.closed) core.dispose(sandbox);
    else deps.deliver(s, sandbox);
  }

  /**
   * Docker down or refusing: the request this start was for gets the error now (a 503, as a fresh
   * start would; each waiting request has a start of its own, so a passing fault fails one, not all);
   * the class backs off and tries again, so the pool rebuilds itself when Docker is back.
   */
  function failed(s: ClassState, error: unknown): void {
    s.waiters.shift()?.reject(error);
    if (core.closed) return;
    const n = ++s.failures;
    if (n === 1 || n % 20 === 0) log.warn({ pool: s.poolClass.name, err: String(error) }, 'pool: could not start a sandbox; retrying');
    const delay = backoffMs(n);
    s.backoffUntil = Date.now() + delay;
    clearTimeout(s.backoffTimer);
    s.backoffTimer = setTimeout(refill, delay).unref();
  }

  function startOne(s: ClassState): void {
    refilling++;
    s.starting++;
    const timer = deps.metrics.poolRefill.startTimer({ pool: s.poolClass.name });
    const start = warmBox(s.poolClass)
      .then(
        (sandbox) => {
          timer();
          started(s, sandbox);
        },
        (error: unknown) => failed(s, error),
      )
      .finally(() => {
        refilling--;
        s.starting--;
        refill();
      });
    core.track(start);
  }

  return {
    refill,
    /** Shutdown: no more back-off wake-ups, and the boxes still getting warm are removed now. */
    stop(): void {
      for (const s of core.states.values()) clearTimeout(s.backoffTimer);
      for (const sandbox of warmingUp) core.dispose(sandbox);
    },
  };
}
