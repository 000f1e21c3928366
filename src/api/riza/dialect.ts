import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { Execute } from '../../execution/executor.js';
import type { RunEvents } from '../../execution/run-events.js';
import type { HttpFunctions } from '../../iii/http-functions.js';
import type { WorkerHub } from '../../iii/worker-hub.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { Webhooks } from '../../invocations/webhooks.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { Secrets } from '../../secrets/secrets.js';
import type { Tools } from '../../tools/tools.js';
import type { Keys } from '../../access/keys.js';
import { keyAuth } from '../auth.js';
import { keyRoutes } from './keys.js';
import { v1Scopes } from './scopes.js';
import { isJson, limitBody, limitStreamedBody, notJson } from '../body-limit.js';
import { createRouter } from '../context.js';
import { toErrorResponse } from '../error-response.js';
import { iiiDialect } from '../iii/dialect.js';
import { executeRoutes } from './execute.js';
import { executionRoutes } from './executions.js';
import { runtimeRoutes } from './runtimes.js';
import { secretRoutes } from './secrets.js';
import { sessionRoutes } from './sessions.js';
import { sessionFileRoutes } from './session-files.js';
import { forwardSessionCalls } from './session-forward.js';
import type { SessionFiles } from '../../sessions/session-files.js';
import type { SessionCalls } from '../../sessions/session-calls.js';
import type { Sessions } from '../../sessions/sessions.js';
import { toolRoutes } from './tools.js';
import { webhookRoutes } from './webhooks.js';

export interface RizaServices {
  keys: Keys;
  runEvents: RunEvents;
  execute: Execute;
  invocations: Invocations;
  statuses: ExecutionStatuses;
  tools: Tools;
  secrets: Secrets;
  runtimes: CustomRuntimes;
  webhooks: Webhooks;
  httpFunctions: HttpFunctions;
  workers: WorkerHub;
  sessions: Sessions;
  sessionCalls: SessionCalls;
  sessionFiles: SessionFiles;
}

/**
 * Riza's API under /v1 (with kiln's additions: async runs, the executions log, custom runtimes,
 * webhooks), and iii's functions API, which lives in /v1's namespace and shares its rules: a key
 * for every route, the body bound, JSON bodies, and Riza's error shape `{code, message, details}`.
 */
export function rizaDialect(
  services: RizaServices,
  settings: Pick<Config, 'KILN_API_KEYS' | 'KILN_MAX_BODY_BYTES' | 'KILN_TMPFS_MIB' | 'KILN_INSTANCE'>,
  log: Logger,
) {
  const maxBodyBytes = settings.KILN_MAX_BODY_BYTES;
  const app = createRouter();
  app.onError((err, c) => toErrorResponse(err, c, log));
  app.use('/v1/*', keyAuth(services.keys));
  app.use('/v1/*', v1Scopes);
  // a session's file streams into its box, never whole into kiln: the workspace's size bounds it,
  // and the program writing it in the box stops at that size (runtimes/session/files.py)
  const bodies = limitBody(maxBodyBytes);
  const fileBodies = limitStreamedBody(settings.KILN_TMPFS_MIB * 1024 * 1024);
  app.use('/v1/*', (c, next) =>
    (c.req.method === 'PUT' && /^\/v1\/sessions\/[^/]+\/files\//.test(c.req.path) ? fileBodies : bodies)(c, next),
  );
  // a session another replica holds: the call goes there (after the checks above, which it repeats)
  app.use('/v1/*', forwardSessionCalls(settings.KILN_INSTANCE, log));
  app.use('/v1/*', async (c, next) => {
    // the actions that take no body (a cancel, a rotate) need no type; what they are sent is ignored
    const bodiless = /\/(cancel|rotate|keepalive|contexts)$/.test(c.req.path);
    if (c.req.method === 'POST' && !bodiless && !isJson(c.req.header('content-type'))) throw notJson();
    await next();
  });
  app.route(
    '/',
    executeRoutes({
      execute: services.execute,
      invocations: services.invocations,
      sessionCalls: services.sessionCalls,
      runEvents: services.runEvents,
      maxBodyBytes,
    }),
  );
  app.route(
    '/',
    toolRoutes({
      tools: services.tools,
      execute: services.execute,
      invocations: services.invocations,
      runEvents: services.runEvents,
      maxBodyBytes,
    }),
  );
  app.route('/', secretRoutes({ secrets: services.secrets }));
  app.route('/', keyRoutes({ keys: services.keys }));
  app.route(
    '/',
    executionRoutes({
      statuses: services.statuses,
      invocations: services.invocations,
      runEvents: services.runEvents,
      instance: settings.KILN_INSTANCE,
    }),
  );
  app.route('/', webhookRoutes({ webhooks: services.webhooks }));
  app.route('/', runtimeRoutes({ runtimes: services.runtimes }));
  app.route('/', sessionRoutes({ sessions: services.sessions, calls: services.sessionCalls, runEvents: services.runEvents }));
  app.route('/', sessionFileRoutes({ files: services.sessionFiles }));
  app.route('/', iiiDialect({ functions: services.httpFunctions, workers: services.workers }, log));
  return app;
}
