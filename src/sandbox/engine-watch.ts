import type { Logger } from 'pino';
import type { DockerClient } from './docker.js';

type EngineState = 'unknown' | 'up' | 'down';

/**
 * Watches the Docker engine and keeps this instance's containers tidy across its absences:
 * at start it removes what an earlier run of the instance left (now, or once the engine answers);
 * when the engine comes back after an outage (a restart ends every container), it removes this
 * instance's stopped ones at once, rather than leaving them to the next boot. Another instance's
 * containers are never touched; this boot's running or starting ones neither.
 */
export function watchEngine(deps: { docker: DockerClient; instance: string; boot: string; log: Logger; intervalMs?: number }) {
  const { docker, log } = deps;
  let state: EngineState = 'unknown';
  /** When the engine was first found away (unix seconds): what was created before it and never started is a leftover. */
  let downSince = 0;
  let checking: Promise<void> | null = null;

  const check = () =>
    (checking ??= (async () => {
      const before = state;
      try {
        await docker.ping();
        if (before === 'up') return;
        const removed = await docker.removeLeftovers(deps.instance, deps.boot, before === 'down' ? downSince : undefined);
        state = 'up'; // only once tidied: a sweep that failed is tried again on the next check
        if (before === 'down') log.info({ removed }, 'Docker engine is back; removed the containers the outage left');
        else if (removed) log.info({ removed }, 'removed containers left by a previous run');
      } catch (err) {
        // the outage began at its first failure; a later failure (of the sweep, say) does not move it
        if (before !== 'down') {
          log.warn({ err: String(err) }, 'Docker engine unreachable; will tidy up when it answers');
          downSince = Math.floor(Date.now() / 1000);
        }
        state = 'down';
      }
    })().finally(() => (checking = null)));

  const timer = setInterval(check, deps.intervalMs ?? 2000);
  timer.unref();
  return {
    /** One check now (the start-up sweep); later ones run every interval. */
    check,
    stop: () => clearInterval(timer),
  };
}
