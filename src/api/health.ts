import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { DockerClient } from '../sandbox/docker.js';

/**
 * /healthz (the process answers), /readyz (the database answers, Docker reachable, images present, the OCI runtime registered, and each warm pool full
 * once since start: before that, requests are answered but may wait for a container to start), /metrics.
 */
export function healthRoutes(deps: {
  docker: DockerClient;
  /** Whether the database answers. */
  ping: () => Promise<void>;
  images: string[];
  /** The OCI runtime sandboxes are created with: it must be registered with the engine. */
  ociRuntime: string;
  metrics: Metrics;
  log: Logger;
  warming?: () => string | null;
}) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await deps.ping();
    } catch (err) {
      deps.log.warn({ err }, 'readyz: database unreachable');
      return c.json({ status: 'unavailable', reason: 'the database does not answer' }, 503);
    }
    try {
      await deps.docker.ping();
    } catch (err) {
      deps.log.warn({ err }, 'readyz: Docker unreachable');
      return c.json({ status: 'unavailable', reason: 'the Docker engine is unreachable' }, 503);
    }
    try {
      const missing = await deps.docker.missingImages(deps.images);
      if (missing.length)
        return c.json({ status: 'unavailable', reason: `sandbox images missing: ${missing.join(', ')} (run \`npm run images\`)` }, 503);
    } catch (err) {
      deps.log.warn({ err }, 'readyz: image check failed');
      return c.json({ status: 'unavailable', reason: 'could not check sandbox images' }, 503);
    }
    try {
      const runtimes = await deps.docker.runtimes();
      const args = runtimes[deps.ociRuntime];
      if (!args)
        return c.json(
          {
            status: 'unavailable',
            reason: `the OCI runtime ${deps.ociRuntime} is not registered with the Docker engine (registered: ${Object.keys(runtimes).join(', ')}); for gVisor run \`npm run setup -- --gvisor\``,
          },
          503,
        );
      // without it runsc applies the box's seccomp profile to its own kernel's calls only, not to the code
      if (deps.ociRuntime === 'runsc' && !args.some((a) => /^--?oci-seccomp(=true)?$/.test(a)))
        return c.json(
          {
            status: 'unavailable',
            reason:
              "runsc is registered without --oci-seccomp, so the boxes' seccomp profile would not apply inside gVisor; run `npm run setup -- --gvisor`",
          },
          503,
        );
    } catch (err) {
      deps.log.warn({ err }, 'readyz: runtime check failed');
      return c.json({ status: 'unavailable', reason: "could not list the engine's OCI runtimes" }, 503);
    }
    const warming = deps.warming?.();
    if (warming) return c.json({ status: 'warming', reason: `filling the warm pools (${warming} ready)` }, 503);
    return c.json({ status: 'ready' });
  });
  app.get('/metrics', async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.text(text, 200, { 'Content-Type': deps.metrics.registry.contentType });
  });
  return app;
}
