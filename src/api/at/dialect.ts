import type { Logger } from 'pino';
import type { AtRunner } from '../../at/run.js';
import type { Config } from '../../config.js';
import { createConcurrencyCap } from '../../execution/concurrency-cap.js';
import { keyProjects } from '../auth.js';
import { limitBody } from '../body-limit.js';
import { createRouter } from '../context.js';
import { atRoutes, xrpcError } from './routes.js';

type AtSettings = Pick<
  Config,
  | 'KILN_API_KEYS'
  | 'KILN_MAX_BODY_BYTES'
  | 'KILN_CONCURRENCY'
  | 'KILN_XRPC_PUBLIC'
  | 'KILN_XRPC_PUBLIC_PROJECT'
  | 'KILN_XRPC_PUBLIC_CONCURRENCY'
>;

/**
 * AT Protocol's XRPC, /xrpc/at.functions.run: the body bound, a key unless anonymous calls are
 * served (KILN_XRPC_PUBLIC, in a project of their own and a share of the boxes), and errors as
 * XRPC has them, `{error, message}`.
 */
export function atDialect(services: { atRun: AtRunner }, settings: AtSettings, log: Logger) {
  const app = createRouter();
  app.onError((err, c) => xrpcError(err, c, log));
  const anonymous = settings.KILN_XRPC_PUBLIC
    ? {
        project: settings.KILN_XRPC_PUBLIC_PROJECT,
        cap: createConcurrencyCap(
          settings.KILN_XRPC_PUBLIC_CONCURRENCY ?? Math.max(1, Math.floor(settings.KILN_CONCURRENCY / 4)),
          'anonymous at.functions.run calls',
        ),
      }
    : null;
  app.use('/xrpc/*', limitBody(settings.KILN_MAX_BODY_BYTES));
  app.route(
    '/',
    atRoutes({
      run: services.atRun,
      projectOf: keyProjects(settings.KILN_API_KEYS),
      anonymous,
      maxBodyBytes: settings.KILN_MAX_BODY_BYTES,
    }),
  );
  return app;
}
