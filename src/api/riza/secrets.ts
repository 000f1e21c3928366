import { type createRoute, z } from '@hono/zod-openapi';
import type { Secrets } from '../../secrets/secrets.js';
import type { SecretRecord } from '../../store/store.js';
import { createRouter } from '../context.js';
import { Deleted, IdParam, pageQuery } from './pagination.js';
import { body, errorResponses, json, route as tagged } from './openapi.js';
import { hasNoControlCharacters } from '../plain-text.js';

const MAX_SECRET_BYTES = 64 * 1024;
const Value = z
  .string()
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v) <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`)
  .openapi({ description: 'Stored encrypted; never returned.' });
const Secret = z.object({ id: z.string(), name: z.string() }).openapi('Secret');
const CreateSecret = z
  .object({
    name: z.string().min(1, 'must not be empty').max(256).refine(hasNoControlCharacters, 'must not contain control characters'),
    value: Value,
  })
  .openapi('CreateSecretRequest');
const RotateSecret = z.object({ value: Value }).openapi('RotateSecretRequest');

const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => tagged('secrets', r);

const routes = {
  create: route({
    method: 'post',
    path: '/v1/secrets',
    summary: 'Store a secret',
    request: body(CreateSecret),
    responses: { 200: json(Secret, 'The secret (never its value).'), ...errorResponses },
  }),
  list: route({
    method: 'get',
    path: '/v1/secrets',
    summary: 'List secrets, newest first',
    request: { query: pageQuery('secret') },
    responses: { 200: json(z.object({ secrets: z.array(Secret) }), 'A page of secrets.'), ...errorResponses },
  }),
  rotate: route({
    method: 'post',
    path: '/v1/secrets/{id}',
    summary: "Replace a secret's value",
    request: { params: IdParam('secret'), ...body(RotateSecret) },
    responses: { 200: json(Secret, 'The secret.'), ...errorResponses },
  }),
  remove: route({
    method: 'delete',
    path: '/v1/secrets/{id}',
    summary: 'Delete a secret',
    request: { params: IdParam('secret') },
    responses: { 200: json(Deleted, 'Deleted.'), ...errorResponses },
  }),
};

const secretBody = (s: SecretRecord) => ({ id: s.id, name: s.name });

/** /v1/secrets: values go in, never come out. */
export function secretRoutes(deps: { secrets: Secrets }) {
  const { secrets } = deps;
  const app = createRouter();
  app.openapi(routes.create, async (c) => {
    const { name, value } = c.req.valid('json');
    return c.json(secretBody(await secrets.create(c.get('project'), name, value)), 200);
  });
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    return c.json(
      { secrets: (await secrets.list(c.get('project'), { limit: q.limit, startingAfter: q.starting_after })).map(secretBody) },
      200,
    );
  });
  app.openapi(routes.rotate, async (c) =>
    c.json(secretBody(await secrets.rotate(c.get('project'), c.req.valid('param').id, c.req.valid('json').value)), 200),
  );
  app.openapi(routes.remove, async (c) => {
    const { id } = c.req.valid('param');
    await secrets.remove(c.get('project'), id);
    return c.json({ id, deleted: true as const }, 200);
  });
  return app;
}
