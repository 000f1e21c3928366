import { createRoute, z } from '@hono/zod-openapi';
import { ErrorBody } from './schemas.js';

/** Error responses every Riza route may give, for the OpenAPI document. */
export const errorResponses = {
  400: { description: 'A field is invalid; the body names it.', content: { 'application/json': { schema: ErrorBody } } },
  401: { description: 'Missing or wrong API key.', content: { 'application/json': { schema: ErrorBody } } },
  404: { description: 'No such object in your project.', content: { 'application/json': { schema: ErrorBody } } },
  413: { description: 'The request body is too large.', content: { 'application/json': { schema: ErrorBody } } },
  429: { description: 'At capacity; retry after Retry-After seconds.', content: { 'application/json': { schema: ErrorBody } } },
  503: { description: 'Docker or a sandbox image is unavailable.', content: { 'application/json': { schema: ErrorBody } } },
};

/** With `Prefer: respond-async`: the invocation is stored and queued (kiln). */
export const acceptedResponse = {
  202: {
    description:
      'Accepted (with `Prefer: respond-async`): stored and queued; GET the Location for its status and, once finished, its result.',
    headers: { Location: { schema: { type: 'string' as const } } },
    content: {
      'application/json': { schema: z.object({ id: z.string(), status: z.literal('queued'), created_at: z.string() }).openapi('Accepted') },
    },
  },
};

/** A JSON response of `schema`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
/** A required JSON request body of `schema`. */
export const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });
/** A bearer-authenticated route under `tag`. */
export const route = <R extends Parameters<typeof createRoute>[0]>(tag: string, r: R) =>
  createRoute({ ...r, security: [{ bearer: [] }], tags: [tag] });
