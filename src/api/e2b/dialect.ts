/**
 * E2B's API, so that E2B's own SDKs run against kiln by configuration alone (docs/e2b.md):
 * E2B_API_URL=<kiln>/e2b is the control plane (./control.ts), with a kiln key as E2B_API_KEY;
 * E2B_SANDBOX_URL=<kiln>/e2b/sandbox takes every in-sandbox call, which names its sandbox in
 * `E2b-Sandbox-Id` and carries the sandbox's access token (`X-Access-Token`): envd's process and
 * filesystem services and file routes (./envd-process.ts, ./envd-filesystem.ts) and the code
 * interpreter (./interpreter.ts). A sandbox is a kiln session; another replica's is forwarded to it.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Keys } from '../../access/keys.js';
import { requireCode, requireScope } from '../../access/scopes.js';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { SessionCalls } from '../../sessions/session-calls.js';
import type { SessionFiles } from '../../sessions/session-files.js';
import type { SessionProcesses } from '../../sessions/session-processes.js';
import type { Sessions } from '../../sessions/sessions.js';
import { keyAuth } from '../auth.js';
import { limitBody, limitStreamedBody } from '../body-limit.js';
import { createRouter } from '../context.js';
import { toErrorResponse } from '../error-response.js';
import { forwardSessionCalls } from '../riza/session-forward.js';
import { controlRoutes } from './control.js';
import { envdErrorBody, filesystemRoutes } from './envd-filesystem.js';
import { processRoutes } from './envd-process.js';
import { interpreterRoutes } from './interpreter.js';
import { accessToken, trafficToken } from './sandbox-view.js';

/** The code interpreter's context calls: the SDK sends them the traffic token, not the access token. */
const CONTEXTS = /^\/e2b\/sandbox\/contexts(\/.*)?$/;

export function e2bDialect(
  services: {
    sessions: Sessions;
    sessionCalls: SessionCalls;
    sessionFiles: SessionFiles;
    sessionProcesses: SessionProcesses;
    runtimes: CustomRuntimes;
    secretBox: SecretBox;
    keys: Keys;
  },
  config: Config,
  log: Logger,
) {
  const app = createRouter();
  const shape = (error: AppError, status: number) => envdErrorBody(error, status);
  app.onError((err, c) => {
    // in the sandbox, one that has ended is one that is not running: 502, as E2B's proxy answers (the SDKs
    // then say so); to the control plane it is a sandbox not found
    if (err instanceof AppError && err.details?.some((d) => d.reason === 'session_ended'))
      return c.req.path.startsWith('/e2b/sandbox/')
        ? c.json({ code: 502, message: err.message }, 502)
        : c.json({ code: 404, message: err.message }, 404);
    return toErrorResponse(err, c, log, shape);
  });
  // the control plane: a kiln key as E2B's X-API-Key; a sandbox runs code of the caller's (run, and no tool allow-list)
  const auth = keyAuth(services.keys, (c) => c.req.header('x-api-key'));
  app.use('/e2b/*', async (c, next) => {
    if (c.req.path.startsWith('/e2b/sandbox/')) return next();
    return auth(c, async () => {
      if (c.req.method === 'GET') requireScope(c.get('principal'), 'read');
      else requireCode(c.get('principal'));
      await next();
    });
  });
  app.use('/e2b/*', (c, next) => (c.req.path.startsWith('/e2b/sandbox/') ? next() : limitBody(64 * 1024)(c, next)));
  // a sandbox another replica holds: its control calls go there too (the handler's SessionElsewhere says where)
  app.use('/e2b/sandboxes/:id/*', forwardSessionCalls(config.KILN_INSTANCE, log));
  app.use('/e2b/sandboxes/:id', forwardSessionCalls(config.KILN_INSTANCE, log));
  app.route('/', controlRoutes({ sessions: services.sessions, runtimes: services.runtimes, secretBox: services.secretBox, config }));

  // in the sandbox: which sandbox (its project known from it), and its token
  const projects = new Map<string, string>();
  app.use('/e2b/sandbox/*', async (c, next) => {
    const id = c.req.header('e2b-sandbox-id') ?? '';
    const project = projects.get(id) ?? (id.length <= 64 ? await services.sessions.projectOf(id) : null);
    // (E2B's proxy answers 502 for a sandbox that is not there: the SDKs then say it is not running)
    if (!project) return c.json({ code: 502, message: `sandbox ${id || '(E2b-Sandbox-Id missing)'} not found` }, 502);
    if (projects.size >= 10_000) projects.delete(projects.keys().next().value!);
    projects.set(id, project);
    // /health says only whether it runs (as E2B's); everything else carries one of the sandbox's tokens
    if (c.req.path !== '/e2b/sandbox/health') {
      const [header, token] = CONTEXTS.test(c.req.path)
        ? ['e2b-traffic-access-token', trafficToken(services.secretBox, project, id)]
        : ['x-access-token', accessToken(services.secretBox, project, id)];
      const want = Buffer.from(token);
      const given = Buffer.from(c.req.header(header) ?? '');
      if (given.length !== want.length || !timingSafeEqual(given, want))
        return c.json({ code: 401, message: `${header}: not this sandbox's token` }, 401);
    }
    c.set('project', project);
    await next();
  });
  const fileBodies = limitStreamedBody(config.KILN_TMPFS_MIB * 1024 * 1024);
  // a multipart upload is parsed whole (FormData): counted as it comes, chunked or not, to the workspace's size
  const formBodies = limitBody(config.KILN_TMPFS_MIB * 1024 * 1024);
  const bodies = limitBody(config.KILN_MAX_BODY_BYTES);
  app.use('/e2b/sandbox/*', (c, next) =>
    (c.req.path !== '/e2b/sandbox/files' ? bodies : /^multipart\//i.test(c.req.header('content-type') ?? '') ? formBodies : fileBodies)(
      c,
      next,
    ),
  );
  app.get('/e2b/sandbox/health', async (c) => {
    // running or not, from its record: a health check neither resumes a paused sandbox nor keeps one alive
    const record = await services.sessions.get(c.get('project'), c.req.header('e2b-sandbox-id')!);
    return record.status === 'running'
      ? c.body(null, 204)
      : c.json({ code: 502, message: `sandbox ${record.id} is ${record.status}` }, 502);
  });
  // a sandbox another replica holds: the call goes there, as a session's does (the check below says so)
  app.use('/e2b/sandbox/*', forwardSessionCalls(config.KILN_INSTANCE, log));
  app.use('/e2b/sandbox/*', async (c, next) => {
    await services.sessions.use(c.get('project'), c.req.header('e2b-sandbox-id')!);
    await next();
  });
  processRoutes(app, services.sessionProcesses);
  filesystemRoutes(app, services.sessionFiles, config.KILN_TMPFS_MIB * 1024 * 1024);
  interpreterRoutes(app, { sessions: services.sessions, calls: services.sessionCalls, maxTimeoutSeconds: config.KILN_MAX_TIMEOUT_SECONDS });
  return app;
}
