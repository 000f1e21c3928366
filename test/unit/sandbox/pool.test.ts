// The warm pool on a fake clock with a fake engine: refill, back-off after failed starts (its delays
// grow and cap), a waiting request that skips the back-off, idle and dead boxes replaced, and a
// shutdown that leaves nothing behind. The real engine's side is test/integration/pool.test.ts.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DockerClient, SandboxHandle } from '../../../src/sandbox/docker.js';
import { createMetrics } from '../../../src/metrics.js';
import { createPool, type PoolClass } from '../../../src/sandbox/pool.js';

interface FakeBox extends SandboxHandle {
  removed: boolean;
  /** The box dies (its streams close), as when Docker restarts. */
  die(): void;
}

function fakeBox(id: string, getsReady = true): FakeBox {
  let alive = true;
  const closes = new Set<() => void>();
  const box: FakeBox = {
    id,
    removed: false,
    send: () => {},
    pendingBytes: () => 0,
    pipe: async () => {},
    // as the real handle: a harness that never says it is warm fails after `ms`, or when the box ends
    ready: (ms) =>
      getsReady
        ? Promise.resolve()
        : new Promise((_, reject) => {
            const timer = setTimeout(() => reject(new Error(`not ready within ${ms} ms`)), ms);
            box.onClose(() => {
              clearTimeout(timer);
              reject(new Error('the sandbox ended before its harness was ready'));
            });
          }),
    kill: async () => {},
    onClose: (callback) => {
      if (alive) closes.add(callback);
      else callback();
    },
    alive: () => alive,
    state: async () => ({ exitCode: 0, oomKilled: false }),
    exportTar: () => Promise.reject(new Error('not in a unit test')),
    exec: () => Promise.reject(new Error('not in a unit test')),
    remove: async () => {
      box.removed = true;
      box.die();
    },
    die: () => {
      if (!alive) return;
      alive = false;
      for (const callback of closes) callback();
    },
  };
  return box;
}

/** An engine whose starts succeed or fail as `outcome` says at the time; it remembers when each was asked for (ms since it was made). */
function fakeEngine() {
  const epoch = Date.now();
  const engine = {
    outcome: 'ok' as 'ok' | 'down' | 'never ready',
    boxes: [] as FakeBox[],
    startedAt: [] as number[],
    docker: {} as DockerClient,
  };
  engine.docker = {
    startSandbox: async () => {
      engine.startedAt.push(Date.now() - epoch);
      if (engine.outcome === 'down') throw new Error('connect ECONNREFUSED /var/run/docker.sock');
      const box = fakeBox(`box-${engine.boxes.length + 1}`, engine.outcome !== 'never ready');
      engine.boxes.push(box);
      return box;
    },
  } as unknown as DockerClient;
  return engine;
}

const poolClass = (name: string, size: number): PoolClass => ({
  name,
  language: name,
  runtimeKey: name,
  image: `kiln-sandbox-${name}`,
  memoryMiB: 256,
  size,
  spec: { Image: `kiln-sandbox-${name}` },
});

const silent = pino({ level: 'silent' });
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('warm pool (fake clock, fake engine)', () => {
  let engine: ReturnType<typeof fakeEngine>;
  beforeEach(() => {
    vi.useFakeTimers();
    engine = fakeEngine();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const make = (classes: PoolClass[], opts: { refillConcurrency?: number; maxIdleMs?: number } = {}) =>
    createPool({
      docker: engine.docker,
      classes,
      refillConcurrency: opts.refillConcurrency ?? 4,
      maxIdleMs: opts.maxIdleMs ?? 60_000,
      log: silent,
      metrics: createMetrics(),
    });

  it('fills each class to its size, says when it is warm, and serves a request without starting a box', async () => {
    const python = poolClass('python', 2);
    const pool = make([python, poolClass('javascript', 1)]);
    const warm = vi.fn();
    pool.onWarm(warm);
    expect(pool.warming()).toBe('python 0/2, javascript 0/1');
    pool.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(engine.boxes).toHaveLength(3);
    expect(pool.warming()).toBeNull();
    expect(warm).toHaveBeenCalledOnce();

    const box = await pool.acquire(python);
    expect(engine.boxes).toHaveLength(3); // no start on the request path
    expect(engine.boxes.slice(0, 2)).toContain(box);
    pool.replenish();
    await vi.advanceTimersByTimeAsync(0);
    expect(engine.boxes).toHaveLength(4);
    await pool.close();
  });

  it('never has more than refillConcurrency boxes starting, and takes the classes in turn', async () => {
    const starts: string[] = [];
    let open = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    engine.docker.startSandbox = (spec) => {
      starts.push(String(spec.Image));
      most = Math.max(most, ++open);
      return new Promise((resolve) =>
        releases.push(() => {
          open--;
          resolve(fakeBox(`box-${starts.length}`));
        }),
      );
    };
    const pool = make([poolClass('python', 3), poolClass('javascript', 3)], { refillConcurrency: 2 });
    pool.start();
    while (releases.length) {
      releases.shift()!();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(most).toBe(2);
    expect(starts).toHaveLength(6);
    // neither class waits for the other to be full
    expect(starts.slice(0, 2).sort()).toEqual(['kiln-sandbox-javascript', 'kiln-sandbox-python']);
    expect(pool.warming()).toBeNull();
    await pool.close();
  });

  it('backs off after failed starts: 200 ms doubling to at most 5 s, and back to the fast pace once a start succeeds', async () => {
    const python = poolClass('python', 1);
    const pool = make([python]);
    engine.outcome = 'down';
    pool.start();
    await vi.advanceTimersByTimeAsync(30_000);
    const delays = gaps(engine.startedAt);
    expect(delays.slice(0, 7)).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(delays.every((d) => d <= 5000)).toBe(true);
    expect(pool.warming()).toBe('python 0/1');

    engine.outcome = 'ok';
    await vi.advanceTimersByTimeAsync(5000);
    expect(pool.warming()).toBeNull();
    // a new outage starts its back-off from the beginning
    await pool.acquire(python);
    engine.outcome = 'down';
    engine.startedAt.length = 0;
    pool.replenish();
    await vi.advanceTimersByTimeAsync(700);
    expect(gaps(engine.startedAt)).toEqual([200, 400]);
    await pool.close();
  });

  it('starts a box at once for a waiting request even during a back-off; if that start fails, that request gets the error', async () => {
    const python = poolClass('python', 1);
    const pool = make([python]);
    engine.outcome = 'down';
    pool.start();
    await vi.advanceTimersByTimeAsync(1000); // failed at 0, 200, 600: backing off until 1400
    expect(engine.startedAt).toEqual([0, 200, 600]);
    const refused = pool.acquire(python);
    const outcome = expect(refused).rejects.toThrow(/ECONNREFUSED/);
    await vi.advanceTimersByTimeAsync(0);
    // at once, not at 1400 (the request's own start, and the class's, as a request waits)
    expect(engine.startedAt.slice(3)).toEqual([1000, 1000]);
    await outcome;

    // still backing off: the next request gets a box at once all the same
    expect(engine.startedAt.at(-1)).toBeLessThan(1400);
    engine.outcome = 'ok';
    const waiting = pool.acquire(python);
    await vi.advanceTimersByTimeAsync(0);
    await expect(waiting).resolves.toMatchObject({ id: 'box-1' });
    expect(engine.startedAt.at(-1)).toBe(1000);
    await pool.close();
  });

  it('counts a box whose harness never gets warm as a failed start: removed after 30 s, and the class backs off', async () => {
    const pool = make([poolClass('python', 1)]);
    engine.outcome = 'never ready';
    pool.start();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(engine.boxes).toHaveLength(1);
    expect(engine.boxes[0]!.removed).toBe(false);
    engine.outcome = 'ok';
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.boxes[0]!.removed).toBe(true);
    expect(engine.boxes).toHaveLength(1); // waiting out the back-off
    await vi.advanceTimersByTimeAsync(200);
    expect(engine.boxes).toHaveLength(2);
    expect(pool.warming()).toBeNull();
    await pool.close();
  });

  it('replaces a box that waited longer than maxIdleMs, and one that died while waiting', async () => {
    const pool = make([poolClass('python', 1)], { maxIdleMs: 10_000 });
    pool.start();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(engine.boxes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(engine.boxes[0]!.removed).toBe(true);
    expect(engine.boxes).toHaveLength(2);

    engine.boxes[1]!.die();
    await vi.advanceTimersByTimeAsync(0);
    expect(engine.boxes).toHaveLength(3);
    expect(engine.boxes[2]!.alive()).toBe(true);
    await pool.close();
  });

  it('hands out no dead box: acquire skips and removes one that died unnoticed', async () => {
    const python = poolClass('python', 2);
    const pool = make([python]);
    pool.start();
    await vi.advanceTimersByTimeAsync(0);
    // dead without its close having been seen yet
    vi.spyOn(engine.boxes[0]!, 'alive').mockReturnValue(false);
    const box = await pool.acquire(python);
    expect(box).toBe(engine.boxes[1]);
    expect(engine.boxes[0]!.removed).toBe(true);
    await pool.close();
  });

  it('fills an added class like the others; removing it removes its boxes and fails its waiting requests', async () => {
    const pool = make([poolClass('python', 0)]);
    const custom = poolClass('custom', 1);
    pool.addClass(custom);
    await vi.advanceTimersByTimeAsync(0);
    expect(engine.boxes).toHaveLength(1);
    expect(pool.classFor('custom', 'kiln-sandbox-custom', 256)).toBe(custom);
    await pool.acquire(custom);
    engine.outcome = 'down';
    const waiting = pool.acquire(custom);
    const refused = expect(waiting).rejects.toThrow(/ECONNREFUSED|removed/);
    pool.removeClass(custom);
    await refused;
    expect(pool.classFor('custom', 'kiln-sandbox-custom', 256)).toBeNull();
    engine.startedAt.length = 0;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(engine.startedAt).toEqual([]); // no back-off wake-up starts a removed class
    await pool.close();
  });

  it('on close: fails waiting requests, removes every box (ready or still warming), and starts nothing more', async () => {
    const python = poolClass('python', 1);
    const javascript = poolClass('javascript', 1);
    const pool = make([python, javascript]);
    pool.start();
    await vi.advanceTimersByTimeAsync(0);
    const served = await pool.acquire(python);
    const javascriptBox = engine.boxes.find((b) => b !== served)!;
    engine.outcome = 'never ready';
    const waiting = pool.acquire(python);
    const refused = expect(waiting).rejects.toThrow(/shutting down/);
    await vi.advanceTimersByTimeAsync(0);
    const warming = engine.boxes.at(-1)!;
    expect(warming.removed).toBe(false);
    await pool.close();
    await refused;
    expect(warming.removed).toBe(true);
    expect(javascriptBox.removed).toBe(true);
    const before = engine.startedAt.length;
    pool.replenish();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(engine.startedAt).toHaveLength(before);
  });
});
