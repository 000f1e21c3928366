import { AppError } from '../errors.js';

/**
 * At most `limit` of something at once per key (a project, the anonymous caller): past it, a 429
 * at once, never a wait. For the work that does not pass through the sandbox admission — kiln's
 * own outbound calls, a worker's connections, anonymous callers' share of the boxes — so that one
 * project cannot hold more of kiln's sockets, buffers and slots than this.
 */
export function createConcurrencyCap(limit: number, what: string) {
  const held = new Map<string, number>();
  const busy = () =>
    new AppError(
      'BUSY',
      `at most ${limit} ${what} at once; retry shortly`,
      [{ reason: 'concurrency_cap', message: `at most ${limit} ${what} at once` }],
      1,
    );

  /** Takes a place for `key`; the answer gives it back (once, however often it is called). Null when full. */
  function tryEnter(key: string): (() => void) | null {
    const n = held.get(key) ?? 0;
    if (n >= limit) return null;
    held.set(key, n + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const m = (held.get(key) ?? 1) - 1;
      if (m > 0) held.set(key, m);
      else held.delete(key);
    };
  }

  return {
    limit,
    tryEnter,
    /** Runs `fn` in a place of `key`'s; BUSY (429, Retry-After 1) when they are all taken. */
    async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const leave = tryEnter(key);
      if (!leave) throw busy();
      try {
        return await fn();
      } finally {
        leave();
      }
    },
    busy,
    /** How many places `key` holds now. */
    held: (key: string) => held.get(key) ?? 0,
  };
}

export type ConcurrencyCap = ReturnType<typeof createConcurrencyCap>;
