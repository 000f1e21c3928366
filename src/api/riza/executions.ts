import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../errors.js';
import type { Store } from '../../store/store.js';
import { createRouter } from '../context.js';
import { IdParam, pageQuery, QueryFlag } from './pagination.js';
import { errorResponses, json } from './openapi.js';
import { executionRecordBody } from './render.js';

const LoggedExecution = z
  .object({
    id: z.string(),
    language: z.string(),
    exit_code: z.number().int(),
    duration: z.number().int(),
    started_at: z.string().openapi({ description: 'RFC 3339' }),
    details: z.object({
      type: z.enum(['script', 'function', 'tool']),
      tool_id: z.string().optional(),
      request: z.any().openapi({ description: 'The request, with env values and credentials left out.' }),
      response: z.any(),
    }),
  })
  .openapi('LoggedExecution');

const routes = {
  list: createRoute({
    method: 'get',
    path: '/v1/executions',
    summary: 'List executions, newest first',
    security: [{ bearer: [] }],
    tags: ['executions'],
    request: { query: pageQuery('exec').extend({ only_non_zero_exit_codes: QueryFlag.openapi({ param: { name: 'only_non_zero_exit_codes', in: 'query' } }) }) },
    responses: { 200: json(z.object({ data: z.array(LoggedExecution) }), 'A page of executions.'), ...errorResponses },
  }),
  get: createRoute({
    method: 'get',
    path: '/v1/executions/{id}',
    summary: 'Get an execution',
    security: [{ bearer: [] }],
    tags: ['executions'],
    request: { params: IdParam('execution') },
    responses: { 200: json(LoggedExecution, 'The execution.'), ...errorResponses },
  }),
};

/** /v1/executions: the log of every execution of the caller's project, from every surface. */
export function executionRoutes(deps: { store: Store }) {
  const app = createRouter();
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const list = await deps.store.listExecutions(c.get('project'), { limit: q.limit, startingAfter: q.starting_after, onlyNonZeroExitCodes: q.only_non_zero_exit_codes });
    return c.json({ data: list.map(executionRecordBody) }, 200);
  });
  app.openapi(routes.get, async (c) => {
    const { id } = c.req.valid('param');
    const record = await deps.store.getExecution(c.get('project'), id);
    if (!record) throw new AppError('NOT_FOUND', `execution ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    return c.json(executionRecordBody(record), 200);
  });
  return app;
}
