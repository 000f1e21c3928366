import { type createRoute, z } from '@hono/zod-openapi';
import type { Keys } from '../../access/keys.js';
import { forbidden } from '../../access/scopes.js';
import type { KeyRecord } from '../../store/keys/records.js';
import { createRouter } from '../context.js';
import { hasNoControlCharacters } from '../plain-text.js';
import { body, errorResponses, json, route as tagged } from './openapi.js';
import { IdParam, pageQuery } from './pagination.js';

const Key = z
  .object({
    id: z.string(),
    name: z.string(),
    project: z.string(),
    scopes: z.array(z.string()),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_used_at: z.string().nullable().openapi({ description: 'Written at most once a minute.' }),
  })
  .openapi('Key');
const CreateKey = z
  .object({
    name: z.string().min(1, 'must not be empty').max(128).refine(hasNoControlCharacters, 'must not contain control characters'),
    project: z.string().optional().openapi({ description: "The key's project: the caller's own (the only one it may name)." }),
    scopes: z
      .array(z.string().max(4096))
      .min(1)
      .max(16)
      .openapi({ description: '`admin`, `manage`, `run`, `read`, and `tools:<id>,…` (run those tools only, and no code of its own).' }),
    expires_at: z.string().datetime({ offset: true }).nullish().openapi({ description: 'RFC 3339; never, when not given.' }),
  })
  .openapi('CreateKeyRequest');

const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => tagged('keys', r);
const routes = {
  create: route({
    method: 'post',
    path: '/v1/keys',
    summary: 'Make a key (admin)',
    request: body(CreateKey),
    responses: { 200: json(Key.extend({ secret: z.string() }), 'The key, and its secret: shown this once.'), ...errorResponses },
  }),
  list: route({
    method: 'get',
    path: '/v1/keys',
    summary: "List the project's keys, newest first (admin; never their secrets)",
    request: { query: pageQuery('key') },
    responses: { 200: json(z.object({ data: z.array(Key) }), 'A page of keys.'), ...errorResponses },
  }),
  revoke: route({
    method: 'delete',
    path: '/v1/keys/{id}',
    summary: 'Revoke a key (admin): refused from its next request, on every replica',
    request: { params: IdParam('key') },
    responses: { 200: json(Key, 'The revoked key.'), ...errorResponses },
  }),
};

const keyView = (k: KeyRecord) => ({
  id: k.id,
  name: k.name,
  project: k.project,
  scopes: k.scopes,
  created_at: k.createdAt,
  expires_at: k.expiresAt,
  revoked_at: k.revokedAt,
  last_used_at: k.lastUsedAt,
});

/** /v1/keys: least-privilege keys of the caller's project, managed with an admin key. */
export function keyRoutes(deps: { keys: Keys }) {
  const app = createRouter();
  app.openapi(routes.create, async (c) => {
    const b = c.req.valid('json');
    const project = c.get('project');
    if (b.project !== undefined && b.project !== project) throw forbidden('admin', `a key makes keys of its own project (${project}) only`);
    const { record, secret } = await deps.keys.create(project, { name: b.name, scopes: b.scopes, expiresAt: b.expires_at ?? null });
    return c.json({ ...keyView(record), secret }, 200);
  });
  app.openapi(routes.list, async (c) => {
    const q = c.req.valid('query');
    return c.json(
      { data: (await deps.keys.list(c.get('project'), { limit: q.limit, startingAfter: q.starting_after })).map(keyView) },
      200,
    );
  });
  app.openapi(routes.revoke, async (c) => c.json(keyView(await deps.keys.revoke(c.get('project'), c.req.valid('param').id)), 200));
  return app;
}
