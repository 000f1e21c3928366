import { z } from '@hono/zod-openapi';
import { isId, type IdPrefix } from '../../ids.js';

/**
 * Riza's cursor pagination: `limit` (1–100, default 100) and `starting_after`, the last id of the
 * previous page; an empty page ends the list. Ids are time-ordered, so a cursor of the right
 * shape always works (even if that object has since been deleted) and a malformed one is a 400.
 */
export function pageQuery(prefix: IdPrefix) {
  return z.object({
    limit: z.coerce
      .number({ error: 'must be a whole number from 1 to 100' })
      .int('must be a whole number from 1 to 100')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .default(100)
      .openapi({ param: { name: 'limit', in: 'query' }, example: 20 }),
    starting_after: z
      .string()
      .refine((v) => isId(prefix, v), `must be an id of the form ${prefix}_…, the last id of the previous page`)
      .optional()
      .openapi({ param: { name: 'starting_after', in: 'query' } }),
  });
}

/** A query flag: true/false (or 1/0). */
export const QueryFlag = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .default('false')
  .transform((v) => v === 'true' || v === '1');

export const IdParam = (name: string) => z.object({ id: z.string().min(1).max(256).openapi({ param: { name: 'id', in: 'path' }, description: `The ${name}'s id.` }) });

export const Deleted = z.object({ id: z.string(), deleted: z.literal(true) }).openapi('Deleted');
