import type { Logger } from 'pino';
import type { HttpFunctions } from '../../iii/http-functions.js';
import type { WorkerHub } from '../../iii/worker-hub.js';
import { createRouter } from '../context.js';
import { toErrorResponse } from '../error-response.js';
import { iiiRoutes } from './routes.js';

/**
 * iii's functions API, /v1/functions: registered HTTP functions and connected workers' functions,
 * invoked like any other. It is mounted inside Riza's dialect (src/api/riza/dialect.ts), whose
 * /v1 rules (key, body bound, JSON) it keeps; its errors are kiln's `{code, message, details}`.
 * Workers connect over a WebSocket of their own (./worker-socket.ts).
 */
export function iiiDialect(services: { functions: HttpFunctions; workers: WorkerHub }, log: Logger) {
  const app = createRouter();
  app.onError((err, c) => toErrorResponse(err, c, log));
  app.route('/', iiiRoutes(services));
  return app;
}
