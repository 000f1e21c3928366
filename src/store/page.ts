/**
 * What every entity's store shares: pages of a listing, and the two encodings of a column that
 * more than one table uses. Imports nothing from the entities, so any of them may import it.
 *
 * Ids are time-ordered (`newId`), so lists are ordered by id, newest first, and a cursor
 * (`startingAfter`, the last id of the previous page) needs no lookup.
 */

export interface Page {
  /** 1..100 */
  limit: number;
  /** Return only objects listed after this id (older than it). */
  startingAfter?: string;
}

/** Page.limit, clamped to 1..100 again in the store: a caller's slip cannot read a whole table. */
export const pageSize = (page: Page) => Math.min(100, Math.max(1, Math.floor(page.limit)));

/**
 * Every item of a listing paged by id (newest first), a page of 100 at a time, up to `max`: for
 * the few places that need a whole project's objects (a catalog, a lookup by name).
 */
export async function* everyItem<T>(list: (page: Page) => Promise<T[]>, idOf: (item: T) => string, max = 10_000): AsyncGenerator<T> {
  let startingAfter: string | undefined;
  for (let seen = 0; seen < max; ) {
    const page = await list({ limit: 100, startingAfter });
    for (const item of page) yield item;
    seen += page.length;
    if (page.length < 100) return;
    startingAfter = idOf(page.at(-1)!);
  }
}

// `?? null`: JSON.stringify(undefined) is undefined, which a NOT NULL column would refuse.
export const toJson = (value: unknown): string => JSON.stringify(value ?? null);

/**
 * started_at is compared as text (retention), which orders correctly only when every value has
 * one shape; Date#toISOString gives it (UTC, milliseconds, `Z`) whatever offset the caller used.
 */
export function canonicalTimestamp(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 timestamp: ${JSON.stringify(value)}`);
  return new Date(ms).toISOString();
}
