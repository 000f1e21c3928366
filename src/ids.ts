import { randomBytes } from 'node:crypto';

/** A prefixed random id, e.g. `exec_3f9c…` (as Unkey's newId). */
export function newId(prefix: 'exec' | 'req'): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
