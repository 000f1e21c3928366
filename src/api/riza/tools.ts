import { keyOfRequest } from '../../access/scopes.js';
import { type createRoute, z } from '@hono/zod-openapi';
import type { Execute } from '../../execution/executor.js';
import type { ExecutionRequest } from '../../execution/request.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { RunEvents } from '../../execution/run-events.js';
import { answerRun } from '../sse.js';
import { acceptIfAsync } from './async.js';
import type { Tool as StoredTool, ToolRevision as StoredRevision } from '../../store/store.js';
import { DEFINITION_FORMATS, toolDefinition } from '../../tools/definitions.js';
import { pythonDeclaration, typescriptDeclaration } from '../../tools/tool-modules.js';

/** Formats of the declaration a program calling the tool from code gets (issue 27). */
const CODE_FORMATS = ['typescript', 'python'] as const;
import type { Tools } from '../../tools/tools.js';
import type { Context } from 'hono';
import { AppError } from '../../errors.js';
import { type AppEnv, createRouter, executionContext } from '../context.js';
import { boundedPage, Deleted, IdParam, PAGE_BYTES, pageQuery } from './pagination.js';
import { acceptedResponse, body, errorResponses, json, route as tagged } from './openapi.js';
import { functionAnswer } from './render.js';
import { ExecuteFunctionResponse } from './schemas.js';
import { CreateToolRequest, ExecuteToolRequest, Tool, ToolRevision, UpdateToolRequest } from './tool-schemas.js';

const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => tagged('tools', r);

const routes = {
  create: route({
    method: 'post',
    path: '/v1/tools',
    summary: 'Save a tool',
    request: body(CreateToolRequest),
    responses: { 200: json(Tool, 'The tool, at its first revision.'), ...errorResponses },
  }),
  list: route({
    method: 'get',
    path: '/v1/tools',
    summary: 'List tools, newest first',
    request: { query: pageQuery('tool') },
    responses: { 200: json(z.object({ tools: z.array(Tool) }), 'A page of tools.'), ...errorResponses },
  }),
  get: route({
    method: 'get',
    path: '/v1/tools/{id}',
    summary: 'Get a tool at its latest revision',
    request: { params: IdParam('tool') },
    responses: { 200: json(Tool, 'The tool.'), ...errorResponses },
  }),
  update: route({
    method: 'post',
    path: '/v1/tools/{id}',
    summary: 'Change a tool: a new revision',
    request: { params: IdParam('tool'), ...body(UpdateToolRequest) },
    responses: { 200: json(Tool, 'The tool at its new revision.'), ...errorResponses },
  }),
  remove: route({
    method: 'delete',
    path: '/v1/tools/{id}',
    summary: 'Delete a tool and its revisions (its executions stay)',
    request: { params: IdParam('tool') },
    responses: { 200: json(Deleted, 'Deleted.'), ...errorResponses },
  }),
  revisions: route({
    method: 'get',
    path: '/v1/tools/{id}/revisions',
    summary: "List a tool's revisions, newest first",
    request: { params: IdParam('tool'), query: pageQuery('rev') },
    responses: { 200: json(z.object({ revisions: z.array(ToolRevision) }), 'A page of revisions.'), ...errorResponses },
  }),
  definition: route({
    method: 'get',
    path: '/v1/tools/{id}/definition',
    summary: 'The tool as an LLM API takes a tool definition',
    request: {
      params: IdParam('tool'),
      query: z.object({
        format: z
          .enum([...DEFINITION_FORMATS, ...CODE_FORMATS], {
            error: `must be one of ${[...DEFINITION_FORMATS, ...CODE_FORMATS].join(', ')}`,
          })
          .default('openai')
          .openapi({ param: { name: 'format', in: 'query' } }),
      }),
    },
    responses: {
      200: json(z.record(z.string(), z.any()).openapi('ToolDefinition'), "The definition, in the format's own shape."),
      ...errorResponses,
    },
  }),
  execute: route({
    method: 'post',
    path: '/v1/tools/{id}/execute',
    summary: 'Run a tool',
    request: { params: IdParam('tool'), ...body(ExecuteToolRequest) },
    responses: {
      200: json(ExecuteFunctionResponse, 'The tool ran (its failures are reported here too).'),
      ...acceptedResponse,
      ...errorResponses,
    },
  }),
};

const fields = (t: StoredTool | StoredRevision) => ({
  name: t.name,
  description: t.description,
  language: t.language,
  code: t.code,
  input_schema: t.inputSchema,
  ...(t.runtimeRevisionId ? { runtime_revision_id: t.runtimeRevisionId } : {}),
  env: t.env,
  http: t.http,
  created_at: t.createdAt,
});
const toolBody = (t: StoredTool) => ({ id: t.id, ...fields(t), revision_id: t.revisionId });
const revisionBody = (r: StoredRevision) => ({ id: r.id, tool_id: r.toolId, ...fields(r) });

/** /v1/tools: Riza's tool API (update is a POST that makes a revision), plus revisions and delete. */
export function toolRoutes(deps: { tools: Tools; execute: Execute; invocations: Invocations; runEvents: RunEvents; maxBodyBytes: number }) {
  const { tools } = deps;
  const app = createRouter();
  app.openapi(routes.create, async (c) => c.json(toolBody(await tools.create(c.get('project'), c.req.valid('json'))), 200));
  /** A key limited to some tools sees those alone: another is absent to it, as another project's is. */
  const visible = (c: Context<AppEnv>, id: string) => {
    const allowed = c.get('principal').tools;
    if (allowed !== null && !allowed.includes(id))
      throw new AppError('NOT_FOUND', `tool ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    return id;
  };
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    const allowed = c.get('principal').tools;
    if (allowed !== null) {
      // its few tools, whole, on one page (an allow-list is short)
      const own = await Promise.all(allowed.map((id) => tools.get(c.get('project'), id).catch(() => null)));
      return c.json({ tools: own.filter((t) => t !== null).map(toolBody) } as never, 200);
    }
    // each tool carries its code (up to 1 MiB): the page ends early past PAGE_BYTES
    const rows = await boundedPage((p) => tools.list(c.get('project'), p), toolBody, {
      limit: q.limit,
      startingAfter: q.starting_after,
      maxBytes: PAGE_BYTES,
      batch: 10,
    });
    return c.body(`{"tools":[${rows.join(',')}]}`, 200, { 'content-type': 'application/json' }) as never;
  });
  app.openapi(routes.get, async (c) => c.json(toolBody(await tools.get(c.get('project'), visible(c, c.req.valid('param').id))), 200));
  app.openapi(routes.update, async (c) =>
    c.json(toolBody(await tools.update(c.get('project'), c.req.valid('param').id, c.req.valid('json'))), 200),
  );
  app.openapi(routes.remove, async (c) => {
    const { id } = c.req.valid('param');
    await tools.remove(c.get('project'), id);
    return c.json({ id, deleted: true as const }, 200);
  });
  app.openapi(routes.revisions, async (c) => {
    const q = c.req.valid('query');
    const id = visible(c, c.req.valid('param').id);
    await tools.get(c.get('project'), id); // a missing tool is a 404, not an empty page
    const rows = await boundedPage((p) => tools.revisions(c.get('project'), id, p), revisionBody, {
      limit: q.limit,
      startingAfter: q.starting_after,
      maxBytes: PAGE_BYTES,
      batch: 10,
    });
    return c.body(`{"revisions":[${rows.join(',')}]}`, 200, { 'content-type': 'application/json' }) as never;
  });
  app.openapi(routes.definition, async (c) => {
    const tool = await tools.get(c.get('project'), visible(c, c.req.valid('param').id));
    const { format } = c.req.valid('query');
    // the declaration a box calling it from code is given (issue 27), as a program would import it
    if (format === 'typescript' || format === 'python')
      return c.json(
        format === 'typescript'
          ? { format, module: 'kiln:tools', declaration: typescriptDeclaration([tool]) }
          : { format, module: 'kiln_tools', declaration: pythonDeclaration([tool]) },
        200,
      );
    return c.json(toolDefinition(tool, format), 200);
  });
  app.openapi(routes.execute, async (c) => {
    const req = c.req.valid('json');
    const request: ExecutionRequest = {
      project: c.get('project'),
      key: keyOfRequest(c.get('principal')),
      mode: 'function',
      target: { kind: 'tool', toolId: c.req.valid('param').id, revisionId: req.revision_id },
      input: req.input ?? null,
      env: req.env ?? [],
      allow: req.http?.allow ?? [],
    };
    const ctx = executionContext(c, deps.maxBodyBytes);
    const accepted = await acceptIfAsync(c, deps.invocations, request, { bytes: ctx.bytes, callbackUrl: req.callback_url });
    if (accepted) return accepted as never;
    return answerRun(c, deps.runEvents, async (stream) => functionAnswer(await deps.execute(request, { ...ctx, stream }))) as never;
  });
  return app;
}
