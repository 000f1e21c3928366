import { z } from '@hono/zod-openapi';
import type { Webhooks } from '../../invocations/webhooks.js';
import { createRouter } from '../context.js';
import { errorResponses, json, route } from './openapi.js';

const Secret = z
  .object({ secret: z.string().openapi({ description: 'whsec_…: verify `webhook-signature` with it (Standard Webhooks).' }) })
  .openapi('WebhookSecret');

const routes = {
  get: route('webhooks', {
    method: 'get',
    path: '/v1/webhooks/secret',
    summary: "The project's webhook signing secret (made on first read)",
    responses: { 200: json(Secret, 'The secret.'), ...errorResponses },
  }),
  rotate: route('webhooks', {
    method: 'post',
    path: '/v1/webhooks/secret/rotate',
    summary: 'A new signing secret; for 24 h deliveries carry a signature by the previous one too',
    responses: { 200: json(Secret, 'The new secret.'), ...errorResponses },
  }),
};

/** /v1/webhooks/secret (kiln): the key a project's receivers check kiln's webhook signatures with. */
export function webhookRoutes(deps: { webhooks: Webhooks }) {
  const app = createRouter();
  app.openapi(routes.get, async (c) => c.json({ secret: await deps.webhooks.secret(c.get('project')) }, 200));
  app.openapi(routes.rotate, async (c) => c.json({ secret: await deps.webhooks.rotate(c.get('project')) }, 200));
  return app;
}
