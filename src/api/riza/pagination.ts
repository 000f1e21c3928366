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

export const IdParam = (name: string) =>
  z.object({
    id: z
      .string()
      .min(1)
      .max(256)
      .openapi({ param: { name: 'id', in: 'path' }, description: `The ${name}'s id.` }),
  });

export const Deleted = z.object({ id: z.string(), deleted: z.literal(true) }).openapi('Deleted');

/**
 * A page of up to `limit` items rendered as JSON text, read `batch` at a time and ended early once
 * it holds `maxBytes` (a client pages on from its last id, as always): rows that each hold up to
 * megabytes (an execution's answer, a tool's code) never make a page of hundreds of MiB.
 */
export async function boundedPage<T extends { id: string }>(
  read: (page: { limit: number; startingAfter?: string }) => Promise<T[]>,
  render: (item: T) => unknown,
  opts: { limit: number; startingAfter?: string; maxBytes: number; batch?: number },
): Promise<string[]> {
  const batch = opts.batch ?? 5;
  const rows: string[] = [];
  let bytes = 0;
  let cursor = opts.startingAfter;
  while (rows.length < opts.limit && bytes < opts.maxBytes) {
    const items = await read({ limit: Math.min(batch, opts.limit - rows.length), startingAfter: cursor });
    for (const item of items) {
      if (bytes >= opts.maxBytes) break;
      const row = JSON.stringify(render(item));
      rows.push(row);
      bytes += row.length;
      cursor = item.id;
    }
    if (items.length < batch) break;
  }
  return rows;
}

/** What one page of a listing may hold, about: past it the page ends early. */
export const PAGE_BYTES = 8 * 1024 * 1024;
