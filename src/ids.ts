import { randomBytes } from 'node:crypto';

export type IdPrefix = 'exec' | 'req' | 'tool' | 'rev' | 'secret' | 'rt' | 'rtrev' | 'sess' | 'ctx' | 'key' | 'ocl' | 'grant' | 'otk';

let lastMs = 0;
let lastRandom = 0n;
const RANDOM_MAX = (1n << 48n) - 1n;

/**
 * A prefixed, time-ordered id, e.g. `exec_0193a1b2c3d4e5f60718293a` (as Unkey's newId): 12 hex
 * digits of milliseconds, then 12 of randomness. Ids of one process only ever increase (within a
 * millisecond the random part counts up), so stores order and page by id alone.
 */
export function newId(prefix: IdPrefix): string {
  let ms = Date.now();
  let random = BigInt(`0x${randomBytes(6).toString('hex')}`);
  if (ms <= lastMs) {
    ms = lastMs;
    random = lastRandom < RANDOM_MAX ? lastRandom + 1n : 0n;
    if (random === 0n) ms = lastMs + 1;
  }
  lastMs = ms;
  lastRandom = random;
  return `${prefix}_${ms.toString(16).padStart(12, '0')}${random.toString(16).padStart(12, '0')}`;
}

/** True when `id` has the form newId(prefix) gives. */
export function isId(prefix: IdPrefix, id: string): boolean {
  return id.length === prefix.length + 25 && id.startsWith(`${prefix}_`) && /^[0-9a-f]{24}$/.test(id.slice(prefix.length + 1));
}
