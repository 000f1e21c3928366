import type { Logger } from 'pino';
import type { C1Functions } from '../../c1/functions.js';
import type { C1InvocationReads } from '../../c1/invocation-reads.js';
import type { Config } from '../../config.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { Keys } from '../../access/keys.js';
import { requireCode, requireScope } from '../../access/scopes.js';
import { keyAuth } from '../auth.js';
import { isJson, limitBody, notJson } from '../body-limit.js';
import { createRouter } from '../context.js';
import { toErrorResponse } from '../error-response.js';
import { c1Routes, c1UploadRoutes } from './routes.js';

/**
 * ConductorOne's Functions API, /api/v1/functions, with a key; and the upload URLs its commits
 * hand out, /api/c1-uploads, which carry a token of their own instead (like pre-signed URLs).
 * Errors in the gRPC-gateway shape `{code, message, details}` kiln uses everywhere.
 */
export function c1Dialect(
  services: { c1: C1Functions; c1Reads: C1InvocationReads; secretBox: SecretBox; keys: Keys },
  settings: Pick<Config, 'KILN_API_KEYS' | 'KILN_MAX_BODY_BYTES' | 'KILN_PUBLIC_URL'>,
  log: Logger,
) {
  const maxBodyBytes = settings.KILN_MAX_BODY_BYTES;
  const app = createRouter();
  app.onError((err, c) => toErrorResponse(err, c, log));
  const api = c1Routes({
    functions: services.c1,
    reads: services.c1Reads,
    box: services.secretBox,
    maxBodyBytes,
    publicUrl: settings.KILN_PUBLIC_URL,
  });
  app.use('/api/v1/*', keyAuth(services.keys));
  // its functions are tools: making and changing them is manage, invoking them runs code the key cannot see
  app.use('/api/v1/*', async (c, next) => {
    const invoke = /\/invoke$|:invoke$/.test(c.req.path);
    const principal = c.get('principal');
    if (invoke) requireCode(principal);
    else requireScope(principal, c.req.method === 'GET' || c.req.path.endsWith('/search') ? 'read' : 'manage');
    await next();
  });
  app.use('/api/v1/*', limitBody(maxBodyBytes));
  app.use('/api/c1-uploads/*', limitBody(maxBodyBytes));
  app.route('/', c1UploadRoutes({ functions: services.c1, uploadToken: api.uploadToken, maxBodyBytes }));
  app.use('/api/v1/*', async (c, next) => {
    // C1's SDKs send JSON; an empty POST (an action) may come with no type at all
    const type = c.req.header('content-type');
    if (c.req.method === 'POST' && c.req.header('content-length') !== '0' && type !== undefined && !isJson(type)) throw notJson();
    await next();
  });
  app.route('/', api.app);
  return app;
}
