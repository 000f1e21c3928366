import type { Logger } from 'pino';
import type { Keys } from '../../access/keys.js';
import type { AtRunner } from '../../at/run.js';
import type { Config } from '../../config.js';
import type { ConcurrencyCap } from '../../execution/concurrency-cap.js';
import { limitBody } from '../body-limit.js';
import { createRouter } from '../context.js';
import { atRoutes, xrpcError } from './routes.js';

type AtSettings = Pick<Config, 'KILN_API_KEYS' | 'KILN_MAX_BODY_BYTES'>;

/**
 * AT Protocol's XRPC, /xrpc/at.functions.run: the body bound, a key unless anonymous calls are
 * served (KILN_XRPC_PUBLIC: services.ts gives their project and their share of the boxes), and errors as
 * XRPC has them, `{error, message}`.
 */
export function atDialect(
  services: { atRun: AtRunner; atAnonymous: { project: string; cap: ConcurrencyCap } | null; keys: Keys },
  settings: AtSettings,
  log: Logger,
) {
  const app = createRouter();
  app.onError((err, c) => xrpcError(err, c, log));
  app.use('/xrpc/*', limitBody(settings.KILN_MAX_BODY_BYTES));
  app.route(
    '/',
    atRoutes({
      run: services.atRun,
      authenticate: services.keys.authenticate,
      anonymous: services.atAnonymous,
      maxBodyBytes: settings.KILN_MAX_BODY_BYTES,
    }),
  );
  return app;
}
