import { swaggerUI } from '@hono/swagger-ui';
import type { Logger } from 'pino';
import { atDialect } from './api/at/dialect.js';
import { c1Dialect } from './api/c1/dialect.js';
import { createRouter } from './api/context.js';
import { e2bDialect } from './api/e2b/dialect.js';
import { toErrorResponse } from './api/error-response.js';
import { healthRoutes } from './api/health.js';
import { mcpDialect } from './api/mcp/dialect.js';
import { oauthResource } from './api/oauth/resource.js';
import { authorizationServerRoutes } from './api/oauth/routes.js';
import { consoleRoutes } from './api/console/routes.js';
import { rizaDialect } from './api/riza/dialect.js';
import type { Config } from './config.js';
import { newId } from './ids.js';
import { StageTimer } from './timings.js';
import type { Metrics } from './metrics.js';
import { type Language, requiredImages, type Runtime } from './runtimes/registry.js';
import type { DockerClient } from './sandbox/docker.js';
import type { Services } from './services.js';

export interface AppDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  registry: Record<Language, Runtime>;
  docker: DockerClient;
  /** The shared services (src/services.ts), built and started by the caller. */
  services: Services;
  /** Null once the warm pools have first been filled; until then, how full they are (for /readyz). */
  warming?: () => string | null;
}

/**
 * The HTTP API: health and docs, request ids and timing, and one sub-app per dialect, each with
 * its own authentication, body bound, content-type rule and error shape over the shared services.
 */
export function createApp(deps: AppDeps) {
  const { config, log, services } = deps;
  const app = createRouter();

  // Server-Timing: how long kiln itself took, apart from the network and the client (the bench
  // compares it with its floor; a client can tell kiln's time from its own).
  app.use('*', async (c, next) => {
    const timer = new StageTimer();
    c.set('timer', timer);
    await next();
    c.res.headers.set('Server-Timing', timer.header());
  });
  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 128) || newId('req');
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    await next();
  });
  const oauth = oauthResource(config);
  if (oauth.challenge) app.use('*', oauth.challenge);
  app.onError((err, c) => toErrorResponse(err, c, log));
  app.notFound((c) => c.json({ code: 5, message: `no route ${c.req.method} ${c.req.path}` }, 404));

  app.route(
    '/',
    healthRoutes({
      docker: deps.docker,
      ping: services.ping,
      images: requiredImages(deps.registry),
      ociRuntime: config.KILN_OCI_RUNTIME,
      metrics: deps.metrics,
      log,
      warming: deps.warming,
    }),
  );
  app.route('/', oauth.routes);
  if (services.authorizationServer)
    app.route(
      '/',
      authorizationServerRoutes({
        server: services.authorizationServer,
        keys: services.keys,
        secretBox: services.secretBox,
        settings: config,
      }),
    );
  if (config.KILN_CONSOLE)
    app.route(
      '/',
      consoleRoutes({
        ...{ keys: services.keys, secretBox: services.secretBox, statuses: services.statuses },
        authorizationServer: services.authorizationServer,
        ...{ tools: services.tools, execute: services.execute, secrets: services.secrets, settings: config },
        ...{ runtimes: services.runtimes, sessions: services.sessions, sessionFiles: services.sessionFiles },
        ...{ invocations: services.invocations, health: services.health, log },
      }),
    );
  app.route('/', rizaDialect(services, config, log));
  app.route('/', mcpDialect(services, config, log));
  app.route('/', c1Dialect(services, config, log));
  app.route('/', atDialect(services, config, log));
  app.route('/', e2bDialect(services, config, log));

  if (config.KILN_DOCS) {
    app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
    app.doc31('/openapi.json', {
      openapi: '3.1.0',
      info: { title: 'kiln', version: '1', description: "Runs untrusted code in locked-down containers; speaks Riza's API." },
    });
    app.get('/docs', swaggerUI({ url: '/openapi.json' }));
  }
  return app;
}
