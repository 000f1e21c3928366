import { type createRoute, z } from '@hono/zod-openapi';
import type { CustomRuntimes } from '../../runtimes/custom/runtimes.js';
import type { RuntimeRevisionRecord, RuntimeWithHead } from '../../store/runtimes/records.js';
import { createRouter } from '../context.js';
import { body, errorResponses, json, route as tagged } from './openapi.js';
import { Deleted, IdParam, pageQuery } from './pagination.js';
import { BuildLog, CreateRevisionRequest, CreateRuntimeRequest, Runtime, RuntimeRevision } from './runtime-schemas.js';

const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => tagged('runtimes', r);
const RevisionParams = IdParam('runtime').extend({
  revision_id: z
    .string()
    .min(1)
    .max(256)
    .openapi({ param: { name: 'revision_id', in: 'path' } }),
});

const routes = {
  create: route({
    method: 'post',
    path: '/v1/runtimes',
    summary: 'Create a runtime: packages built into an image, in the background',
    request: body(CreateRuntimeRequest),
    responses: {
      200: json(Runtime, 'The runtime, its first revision pending (or succeeded, when an equal one was built before).'),
      ...errorResponses,
    },
  }),
  list: route({
    method: 'get',
    path: '/v1/runtimes',
    summary: 'List runtimes, newest first',
    request: { query: pageQuery('rt') },
    responses: { 200: json(z.object({ runtimes: z.array(Runtime) }), 'A page of runtimes.'), ...errorResponses },
  }),
  get: route({
    method: 'get',
    path: '/v1/runtimes/{id}',
    summary: 'Get a runtime and the status of its latest revision',
    request: { params: IdParam('runtime') },
    responses: { 200: json(Runtime, 'The runtime.'), ...errorResponses },
  }),
  remove: route({
    method: 'delete',
    path: '/v1/runtimes/{id}',
    summary: 'Delete a runtime and its revisions (their images are removed)',
    request: { params: IdParam('runtime') },
    responses: { 200: json(Deleted, 'Deleted.'), ...errorResponses },
  }),
  addRevision: route({
    method: 'post',
    path: '/v1/runtimes/{id}/revisions',
    summary: 'A new revision: another manifest, built in the background',
    request: { params: IdParam('runtime'), ...body(CreateRevisionRequest) },
    responses: { 200: json(RuntimeRevision, 'The revision.'), ...errorResponses },
  }),
  revisions: route({
    method: 'get',
    path: '/v1/runtimes/{id}/revisions',
    summary: "List a runtime's revisions, newest first",
    request: { params: IdParam('runtime'), query: pageQuery('rtrev') },
    responses: { 200: json(z.object({ revisions: z.array(RuntimeRevision) }), 'A page of revisions.'), ...errorResponses },
  }),
  revision: route({
    method: 'get',
    path: '/v1/runtimes/{id}/revisions/{revision_id}',
    summary: 'Get a revision and its build status',
    request: { params: RevisionParams },
    responses: { 200: json(RuntimeRevision, 'The revision.'), ...errorResponses },
  }),
  logs: route({
    method: 'get',
    path: '/v1/runtimes/{id}/revisions/{revision_id}/logs',
    summary: "kiln: a revision's build log",
    request: { params: RevisionParams },
    responses: { 200: json(BuildLog, 'The build log (empty until the build ends).'), ...errorResponses },
  }),
};

const manifest = (r: RuntimeRevisionRecord) => ({ name: r.manifestName, contents: r.manifestContents });
const extras = (r: RuntimeRevisionRecord) => ({
  ...(r.additionalPythonImports ? { additional_python_imports: r.additionalPythonImports } : {}),
  ...(r.failureReason ? { failure_reason: r.failureReason } : {}),
});
const runtimeBody = (rt: RuntimeWithHead) => ({
  id: rt.id,
  name: rt.name,
  language: rt.language,
  revision_id: rt.head.id,
  status: rt.head.status,
  manifest_file: manifest(rt.head),
  ...extras(rt.head),
});
const revisionBody = (r: RuntimeRevisionRecord) => ({
  id: r.id,
  runtime_id: r.runtimeId,
  manifest_file: manifest(r),
  status: r.status,
  ...extras(r),
});
const page = (q: { limit: number; starting_after?: string }) => ({ limit: q.limit, startingAfter: q.starting_after });

/** /v1/runtimes: Riza's custom runtime API, plus build logs. */
export function runtimeRoutes(deps: { runtimes: CustomRuntimes }) {
  const { runtimes } = deps;
  const app = createRouter();
  app.openapi(routes.create, async (c) => c.json(runtimeBody(await runtimes.create(c.get('project'), c.req.valid('json'))), 200));
  app.openapi(routes.list, async (c) =>
    c.json({ runtimes: (await runtimes.list(c.get('project'), page(c.req.valid('query')))).map(runtimeBody) }, 200),
  );
  app.openapi(routes.get, async (c) => c.json(runtimeBody(await runtimes.get(c.get('project'), c.req.valid('param').id)), 200));
  app.openapi(routes.remove, async (c) => {
    const { id } = c.req.valid('param');
    await runtimes.delete(c.get('project'), id);
    return c.json({ id, deleted: true as const }, 200);
  });
  app.openapi(routes.addRevision, async (c) =>
    c.json(revisionBody(await runtimes.addRevision(c.get('project'), c.req.valid('param').id, c.req.valid('json'))), 200),
  );
  app.openapi(routes.revisions, async (c) => {
    const list = await runtimes.revisions(c.get('project'), c.req.valid('param').id, page(c.req.valid('query')));
    return c.json({ revisions: list.map(revisionBody) }, 200);
  });
  app.openapi(routes.revision, async (c) => {
    const { id, revision_id } = c.req.valid('param');
    return c.json(revisionBody(await runtimes.revision(c.get('project'), id, revision_id)), 200);
  });
  app.openapi(routes.logs, async (c) => {
    const { id, revision_id } = c.req.valid('param');
    const { revision, log } = await runtimes.buildLog(c.get('project'), id, revision_id);
    return c.json({ revision_id: revision.id, status: revision.status, log }, 200);
  });
  return app;
}
