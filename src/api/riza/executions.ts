import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../../errors.js';
import { EXECUTION_VIAS, type Store } from '../../store/store.js';
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
      via: z.enum(EXECUTION_VIAS).openapi({ description: 'The surface it came through: `api` (/v1), `mcp` (/mcp).' }),
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

const BATCH = 5;
const PAGE_BYTES = 8 * 1024 * 1024;

/** /v1/executions: the log of every execution of the caller's project, from every surface. */
export function executionRoutes(deps: { store: Store }) {
  const app = createRouter();
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const project = c.get('project');
    // A row keeps its request and answer whole, up to tens of MiB: the page is read a few rows at a
    // time and ends early once it holds PAGE_BYTES (a client pages on from its last id, as always).
    const rows: string[] = [];
    let bytes = 0;
    let cursor = q.starting_after;
    while (rows.length < q.limit && bytes < PAGE_BYTES) {
      const batch = await deps.store.listExecutions(project, { limit: Math.min(BATCH, q.limit - rows.length), startingAfter: cursor, onlyNonZeroExitCodes: q.only_non_zero_exit_codes });
      for (const record of batch) {
        if (bytes >= PAGE_BYTES) break;
        const row = JSON.stringify(executionRecordBody(record));
        rows.push(row);
        bytes += row.length;
        cursor = record.id;
      }
      if (batch.length < BATCH) break;
    }
    return c.body(`{"data":[${rows.join(',')}]}`, 200, { 'content-type': 'application/json' }) as never;
  });
  app.openapi(routes.get, async (c) => {
    const { id } = c.req.valid('param');
    const record = await deps.store.getExecution(c.get('project'), id);
    if (!record) throw new AppError('NOT_FOUND', `execution ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    return c.json(executionRecordBody(record), 200);
  });
  return app;
}
