import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';

const EVERY_MS = 10 * 60 * 1000;

/**
 * Keeps the executions log within its retention (age and count per project): once at start, then
 * every ten minutes, in the background. A failed prune is logged and counted; the next one retries.
 */
export function startRetention(deps: {
  store: Store;
  days: number;
  keepPerProject: number;
  keep?: Readonly<Record<string, number>>;
  log: Logger;
  metrics: Metrics;
}) {
  let running: Promise<void> | null = null;
  const prune = () =>
    (running ??= deps.store.executions
      .prune({
        olderThan: new Date(Date.now() - deps.days * 86_400_000).toISOString(),
        keepPerProject: deps.keepPerProject,
        keep: deps.keep,
      })
      .then(
        (n) => void (n && deps.log.info({ removed: n }, 'executions log: removed executions past retention')),
        (err) => {
          deps.metrics.storeErrors.inc({ operation: 'prune_executions' });
          deps.log.warn({ err: String(err) }, 'executions log: pruning failed; will retry');
        },
      )
      .finally(() => (running = null)));
  void prune();
  const timer = setInterval(prune, EVERY_MS).unref();
  return {
    prune,
    /** Stops pruning and waits for a prune under way. */
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
