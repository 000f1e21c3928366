import { swaggerUI } from '@hono/swagger-ui';
import { bodyLimit } from 'hono/body-limit';
import { bearerAuth, keyProjects } from './api/auth.js';
import { atRoutes, xrpcError } from './api/at/routes.js';
import type { MiddlewareHandler } from 'hono';
import { createRouter, type AppEnv } from './api/context.js';
import { mcpHttpError } from './api/mcp/errors.js';
import { mcpMethodNotAllowed, mcpOrigin, mcpRoutes } from './api/mcp/route.js';
import { healthRoutes } from './api/health.js';
import { executeRoutes } from './api/riza/execute.js';
import { executionRoutes } from './api/riza/executions.js';
import { secretRoutes } from './api/riza/secrets.js';
import { toolRoutes } from './api/riza/tools.js';
import { runtimeRoutes } from './api/riza/runtimes.js';
import { webhookRoutes } from './api/riza/webhooks.js';
import { c1Routes, c1UploadRoutes } from './api/c1/routes.js';
import { iiiRoutes } from './api/iii/routes.js';
import type { Core, CoreDeps } from './execution/core.js';
import { AppError } from './errors.js';
import { toErrorResponse } from './api/error-response.js';
import { createConcurrencyCap } from './execution/concurrency-cap.js';
import { newId } from './ids.js';
import { requiredImages } from './runtimes/registry.js';
import type { DockerClient } from './sandbox/docker.js';

export interface AppDeps extends Pick<CoreDeps, 'config' | 'log' | 'metrics' | 'registry'> {
  docker: DockerClient;
  /** The shared services (src/execution/core.ts), built and started by the caller. */
  core: Core;
  /** Null once the warm pools have first been filled; until then, how full they are (for /readyz). */
  warming?: () => string | null;
}

/** The HTTP API: health, docs, and the authenticated /v1 and /mcp routes over the shared execution core. */
export function createApp(deps: AppDeps) {
  const { config, log, core } = deps;
  const app = createRouter();

  // Server-Timing: how long kiln itself took, apart from the network and the client (the bench
  // compares it with its floor; a client can tell kiln's time from its own).
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    c.res.headers.set('Server-Timing', `app;dur=${(performance.now() - started).toFixed(2)}`);
  });
  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 128) || newId('req');
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    await next();
  });
  app.onError((err, c) =>
    c.req.path === '/mcp'
      ? mcpHttpError(err, c, log)
      : c.req.path.startsWith('/xrpc/')
        ? xrpcError(err, c, log)
        : toErrorResponse(err, c, log),
  );
  app.notFound((c) => c.json({ code: 5, message: `no route ${c.req.method} ${c.req.path}` }, 404));

  app.route(
    '/',
    healthRoutes({
      docker: deps.docker,
      store: deps.core.store,
      images: requiredImages(deps.registry),
      ociRuntime: config.KILN_OCI_RUNTIME,
      metrics: deps.metrics,
      log,
      warming: deps.warming,
    }),
  );

  // /mcp: 405 for GET and DELETE whoever asks; the Origin check before auth, as a preflight has no key
  const mcp = mcpRoutes({
    tools: core.tools,
    execute: core.execute,
    listLimit: config.KILN_MCP_TOOL_LIST_LIMIT,
    outputLimit: config.KILN_MCP_OUTPUT_LIMIT_BYTES,
    maxTimeoutSeconds: config.KILN_MAX_TIMEOUT_SECONDS,
    maxBodyBytes: config.KILN_MAX_BODY_BYTES,
    log,
  });
  app.on(['GET', 'DELETE'], '/mcp', mcpMethodNotAllowed);
  app.use('/mcp', mcpOrigin(config.KILN_MCP_ALLOWED_ORIGINS));
  app.use('/mcp', bearerAuth(config.KILN_API_KEYS));
  app.use('/v1/*', bearerAuth(config.KILN_API_KEYS));
  // ConductorOne's Functions API; its upload URLs carry their own token instead of a key
  const c1 = c1Routes({
    functions: core.c1,
    store: core.store,
    box: core.secretBox,
    maxBodyBytes: config.KILN_MAX_BODY_BYTES,
    publicUrl: config.KILN_PUBLIC_URL,
  });
  app.use('/api/v1/*', bearerAuth(config.KILN_API_KEYS));
  const tooLarge = () => {
    throw new AppError('PAYLOAD_TOO_LARGE', `request body is larger than ${config.KILN_MAX_BODY_BYTES} bytes`, [
      { field: '(body)', reason: 'too_large' },
    ]);
  };
  const countBody = bodyLimit({ maxSize: config.KILN_MAX_BODY_BYTES, onError: tooLarge });
  const limitBody: MiddlewareHandler<AppEnv> = async (c, next) => {
    // With a Content-Length the header decides, and the body is left for the validator to read once
    // (counting it as a stream costs a copy); a chunked body is counted as it arrives.
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding')) return countBody(c, next);
    if (Number(length) > config.KILN_MAX_BODY_BYTES) tooLarge();
    await next();
  };
  app.use('/v1/*', limitBody);
  app.use('/api/v1/*', limitBody);
  app.use('/api/c1-uploads/*', limitBody);
  app.route('/', c1UploadRoutes({ functions: core.c1, uploadToken: c1.uploadToken, maxBodyBytes: config.KILN_MAX_BODY_BYTES }));
  app.use('/mcp', limitBody);
  app.use('/xrpc/*', limitBody);
  app.use('/api/v1/*', async (c, next) => {
    if (
      c.req.method === 'POST' &&
      c.req.header('content-length') !== '0' &&
      c.req.header('content-type') !== undefined &&
      !/^application\/json\b/i.test(c.req.header('content-type') ?? '')
    )
      throw new AppError('BAD_REQUEST', 'Content-Type must be application/json', [{ field: '(headers)', reason: 'content_type' }]);
    await next();
  });
  app.use('/v1/*', async (c, next) => {
    // the actions that take no body (a cancel, a rotate) need no type; what they are sent is ignored
    const bodiless = /\/(cancel|rotate)$/.test(c.req.path);
    if (c.req.method === 'POST' && !bodiless && !/^application\/json\b/i.test(c.req.header('content-type') ?? ''))
      throw new AppError('BAD_REQUEST', 'Content-Type must be application/json', [{ field: '(headers)', reason: 'content_type' }]);
    await next();
  });
  const maxBodyBytes = config.KILN_MAX_BODY_BYTES;
  app.route('/', executeRoutes({ execute: core.execute, invocations: core.invocations, maxBodyBytes }));
  app.route('/', toolRoutes({ tools: core.tools, execute: core.execute, invocations: core.invocations, maxBodyBytes }));
  app.route('/', secretRoutes({ secrets: core.secrets }));
  app.route('/', executionRoutes({ store: core.store, invocations: core.invocations }));
  app.route('/', webhookRoutes({ webhooks: core.webhooks }));
  app.route('/', iiiRoutes({ functions: core.httpFunctions, workers: core.workers }));
  app.route('/', runtimeRoutes({ runtimes: core.runtimes }));
  app.route('/', mcp);
  app.route('/', c1.app);
  const anonymous = config.KILN_XRPC_PUBLIC
    ? {
        project: config.KILN_XRPC_PUBLIC_PROJECT,
        cap: createConcurrencyCap(
          config.KILN_XRPC_PUBLIC_CONCURRENCY ?? Math.max(1, Math.floor(config.KILN_CONCURRENCY / 4)),
          'anonymous at.functions.run calls',
        ),
      }
    : null;
  app.route('/', atRoutes({ run: core.atRun, projectOf: keyProjects(config.KILN_API_KEYS), anonymous, maxBodyBytes }));

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
