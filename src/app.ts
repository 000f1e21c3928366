import { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { bearerAuth } from './api/auth.js';
import { executeRoutes } from './api/execute.js';
import { healthRoutes } from './api/health.js';
import type { Config } from './config.js';
import { AppError, toErrorResponse, validationHook } from './errors.js';
import { newId } from './ids.js';
import type { Metrics } from './metrics.js';
import { requiredImages, type Language, type Runtime } from './runtimes/registry.js';
import type { Admission } from './sandbox/admission.js';
import type { DockerClient } from './sandbox/docker.js';
import type { RunJob } from './sandbox/runner.js';

export interface AppDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  docker: DockerClient;
  registry: Record<Language, Runtime>;
  admission: Admission;
  runJob: RunJob;
  /** Null once the warm pools have first been filled; until then, how full they are (for /readyz). */
  warming?: () => string | null;
}

/** The HTTP API: health, docs, and the authenticated /v1 routes. */
export function createApp(deps: AppDeps) {
  const { config, log } = deps;
  const app = new OpenAPIHono({ defaultHook: validationHook });

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 128) || newId('req');
    c.header('X-Request-Id', requestId);
    await next();
  });
  app.onError((err, c) => toErrorResponse(err, c, log));
  app.notFound((c) => c.json({ code: 5, message: `no route ${c.req.method} ${c.req.path}` }, 404));

  app.route('/', healthRoutes({ docker: deps.docker, images: requiredImages(deps.registry), metrics: deps.metrics, log, warming: deps.warming }));

  app.use('/v1/*', bearerAuth(config.KILN_API_KEYS));
  const tooLarge = () => {
    throw new AppError('PAYLOAD_TOO_LARGE', `request body is larger than ${config.KILN_MAX_BODY_BYTES} bytes`, [
      { field: '(body)', reason: 'too_large' },
    ]);
  };
  const countBody = bodyLimit({ maxSize: config.KILN_MAX_BODY_BYTES, onError: tooLarge });
  app.use('/v1/*', async (c, next) => {
    // With a Content-Length the header decides, and the body is left for the validator to read once
    // (counting it as a stream costs a copy); a chunked body is counted as it arrives.
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding')) return countBody(c, next);
    if (Number(length) > config.KILN_MAX_BODY_BYTES) tooLarge();
    await next();
  });
  app.use('/v1/*', async (c, next) => {
    if (c.req.method === 'POST' && !/^application\/json\b/i.test(c.req.header('content-type') ?? ''))
      throw new AppError('BAD_REQUEST', 'Content-Type must be application/json', [{ field: '(headers)', reason: 'content_type' }]);
    await next();
  });
  app.route('/', executeRoutes(deps));

  if (config.KILN_DOCS) {
    app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
    app.doc31('/openapi.json', {
      openapi: '3.1.0',
      info: { title: 'kiln', version: '1', description: 'Runs untrusted code in locked-down containers; speaks Riza\'s API.' },
    });
    app.get('/docs', swaggerUI({ url: '/openapi.json' }));
  }
  return app;
}
