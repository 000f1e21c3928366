import { createRoute, z } from '@hono/zod-openapi';
import { AppError, fieldError } from '../../errors.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import { EXECUTION_VIAS, INVOCATION_STATUSES } from '../../model/vocabulary.js';
import { createRouter } from '../context.js';
import { boundedPage, IdParam, PAGE_BYTES, pageQuery, QueryFlag } from './pagination.js';
import { errorResponses, json } from './openapi.js';
import { executionRecordBody, executionView } from './render.js';
import { executionEvents } from './execution-events.js';
import type { RunEvents } from '../../execution/run-events.js';

const LoggedExecution = z
  .object({
    id: z.string(),
    language: z.string(),
    exit_code: z.number().int(),
    duration: z.number().int(),
    started_at: z.string().openapi({ description: 'RFC 3339' }),
    status: z.literal('finished').openapi({ description: 'kiln: every execution in the log has finished.' }),
    details: z.object({
      type: z.enum(['script', 'function', 'tool', 'http_function', 'worker_function', 'session']).openapi({
        description:
          'kiln: `http_function` / `worker_function`, an invocation of an iii function registered with an HTTP invocation / by a connected worker.',
      }),
      via: z.enum(EXECUTION_VIAS).openapi({
        description: 'The surface it came through: `api` (/v1), `mcp` (/mcp), `c1` (/api/v1/functions), `iii` (/v1/functions).',
      }),
      tool_id: z.string().optional(),
      session_id: z.string().optional().openapi({ description: 'kiln: the session it ran in (type `session`).' }),
      request: z.any().openapi({ description: 'The request, with env values and credentials left out.' }),
      response: z.any().openapi({ description: 'What the synchronous call answered (or would have).' }),
    }),
  })
  .openapi('LoggedExecution');

const ExecutionStatus = LoggedExecution.omit({ status: true })
  .partial()
  .extend({
    id: z.string(),
    status: z.enum(INVOCATION_STATUSES).openapi({
      description:
        'kiln: `finished` for every synchronous execution; an async one is `queued`, `running`, then `finished`, or `interrupted`, `cancelled`, `failed` (see `reason`).',
    }),
    reason: z.string().optional(),
    created_at: z.string().optional(),
    ended_at: z.string().optional(),
    webhook: z
      .object({
        url: z.string(),
        status: z.string(),
        attempts: z.number().int(),
        last_error: z.string().optional(),
        next_attempt_at: z.string().optional(),
      })
      .optional(),
  })
  .openapi('ExecutionStatus');

const routes = {
  list: createRoute({
    method: 'get',
    path: '/v1/executions',
    summary: 'List executions, newest first',
    security: [{ bearer: [] }],
    tags: ['executions'],
    request: {
      query: pageQuery('exec').extend({
        only_non_zero_exit_codes: QueryFlag.openapi({ param: { name: 'only_non_zero_exit_codes', in: 'query' } }),
      }),
    },
    responses: { 200: json(z.object({ data: z.array(LoggedExecution) }), 'A page of executions.'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/executions/{id}',
    summary: 'Get an execution',
    security: [{ bearer: [] }],
    tags: ['executions'],
    request: { params: IdParam('execution') },
    responses: { 200: json(ExecutionStatus, 'The execution, with its status.'), ...errorResponses },
  }),
  cancel: createRoute({
    method: 'post',
    path: '/v1/executions/{id}/cancel',
    summary: 'Cancel an async invocation: a queued one does not run; a running one is stopped',
    security: [{ bearer: [] }],
    tags: ['executions'],
    request: { params: IdParam('execution') },
    responses: { 200: json(ExecutionStatus, 'Its status after the cancel.'), ...errorResponses },
  }),
};

/** /v1/executions: the log of every execution of the caller's project, from every surface. */
export function executionRoutes(deps: { statuses: ExecutionStatuses; invocations: Invocations; runEvents: RunEvents; instance: string }) {
  const app = createRouter();
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const project = c.get('project');
    // A row keeps its request and answer whole, up to tens of MiB: the page ends early past PAGE_BYTES
    const rows = await boundedPage(
      (page) => deps.statuses.list(project, { ...page, onlyNonZeroExitCodes: q.only_non_zero_exit_codes }),
      executionRecordBody,
      {
        limit: q.limit,
        startingAfter: q.starting_after,
        maxBytes: PAGE_BYTES,
      },
    );
    return c.body(`{"data":[${rows.join(',')}]}`, 200, { 'content-type': 'application/json' }) as never;
  });
  const notFound = (id: string) => new AppError('NOT_FOUND', `execution ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
  app.openapi(routes.get, async (c) => {
    const { id } = c.req.valid('param');
    const status = await deps.statuses.get(c.get('project'), id);
    if (!status) throw notFound(id);
    return c.json(executionView(status) as never, 200);
  });
  app.openapi(routes.cancel, async (c) => {
    const { id } = c.req.valid('param');
    const project = c.get('project');
    if (!(await deps.invocations.cancel(project, id))) {
      // a synchronous execution ended with its answer: there is nothing to cancel
      if (await deps.statuses.logged(project, id))
        throw new AppError('BAD_REQUEST', `id: execution ${id} was not an async invocation; it ended with its answer`, [
          { field: 'id', reason: 'not_async' },
        ]);
      throw notFound(id);
    }
    const status = await deps.statuses.get(project, id);
    if (!status) throw notFound(id);
    return c.json(executionView(status) as never, 200);
  });
  // a run's events: live while it runs, recorded once it has ended (./execution-events.ts)
  app.get('/v1/executions/:id/events', executionEvents({ ...deps, peers: deps.invocations.peers }));
  // an output file as raw bytes; served as a download, never as a page this origin would render
  app.get('/v1/executions/:id/files/*', async (c) => {
    const id = c.req.param('id');
    const { pathname } = new URL(c.req.url);
    let path: string;
    try {
      path = decodeURIComponent(pathname.slice(pathname.indexOf('/files/') + '/files/'.length));
    } catch {
      throw fieldError('path', 'invalid', 'is not a valid percent-encoded path');
    }
    const data = await deps.statuses.file(c.get('project'), id, path);
    if (!data)
      throw new AppError('NOT_FOUND', `execution ${id} has no output file ${JSON.stringify(path)}`, [
        { field: 'path', reason: 'not_found' },
      ]);
    const name = path
      .split('/')
      .at(-1)!
      .replace(/[^\w.-]/g, '_');
    return c.body(new Uint8Array(data), 200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${name}"`,
      'x-content-type-options': 'nosniff',
    });
  });
  return app;
}
