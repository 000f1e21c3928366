/**
 * Generated request bodies for the fuzz test: from a seeded generator, so a failure names a seed
 * that brings the same body back. Each body is either raw text (not JSON, empty, truncated) or a
 * JSON value: random values, deep nesting, huge strings, odd Unicode, and a route's own valid
 * template with one field replaced by a wrong type or an odd value (which gets past the first
 * checks and reaches the deeper ones).
 */

/** mulberry32: a small seeded generator, enough to spread bodies and replay them. */
export function seeded(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof seeded>;

/** Strings that have broken parsers, validators, loggers and databases. */
const ODD = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u2066evil',
  '𝕜𝕚𝕝𝕟',
  '👩‍👩‍👧‍👦'.repeat(50),
  'ﷺ',
  '\uFEFF',
  '\r\n\r\nX-Injected: 1',
  '../../etc/passwd',
  '/etc/shadow',
  '%2e%2e%2f',
  '{{7*7}}',
  "'; drop table tools; --",
  '$(reboot)',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e309',
  'a'.repeat(300),
  'exec_00000000000000000000000000',
  'tool_zzzz',
  'at://did:plc:x/at.functions.metadata/y',
  'http://169.254.169.254/latest',
  'https://[::127.0.0.1]/',
];

function oddString(r: Rng): string {
  switch (r.int(4)) {
    case 0:
      return r.pick(ODD);
    case 1:
      return r.pick(ODD).repeat(1 + r.int(2000));
    case 2:
      return String.fromCharCode(...Array.from({ length: 1 + r.int(64) }, () => r.int(0x10000)));
    default:
      return 'x'.repeat(r.pick([1, 1000, 100_000, 1_000_000]));
  }
}

/** JSON text placed as it is: nesting thousands deep, which JSON.stringify in this process would overflow on. */
class RawJson {
  constructor(readonly text: string) {}
}

/** Arrays or objects nested `depth` deep around a leaf, as JSON text. */
export function nested(depth: number, leaf: string, asObject: boolean): RawJson {
  return new RawJson(asObject ? '{"a":'.repeat(depth) + leaf + '}'.repeat(depth) : '['.repeat(depth) + leaf + ']'.repeat(depth));
}

/**
 * A field that carries JSON in base64 (C1's `json`, `initialContent`): the generator mutates what is
 * inside, then encodes it, so the body reaches the checks behind the decoding.
 */
export class Base64Json {
  constructor(readonly inner: unknown) {}
}

/** JSON.stringify that writes RawJson as its text and Base64Json encoded (the structure around them is shallow). */
function toJson(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (v instanceof Base64Json) return JSON.stringify(Buffer.from(toJson(v.inner)).toString('base64'));
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

function randomValue(r: Rng, budget = 3): unknown {
  switch (r.int(budget > 0 ? 10 : 7)) {
    case 0:
      return null;
    case 1:
      return r.pick([true, false]);
    case 2:
      return r.pick([0, -1, 1.5, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MIN_VALUE, 3600001, 1025]);
    case 3:
    case 4:
      return oddString(r);
    case 5:
    case 6:
      return nested(r.pick([10, 64, 65, 899, 901, 2000, 5000, 100_000]), r.pick(['1', '"x"', 'null']), r.next() < 0.5);
    case 7:
      return Array.from({ length: r.int(5) }, () => randomValue(r, budget - 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(5) }, () => [
          r.next() < 0.3
            ? r.pick(ODD)
            : r.pick(['language', 'code', 'input', 'env', 'files', 'id', 'name', 'data', 'json', 'function', 'limits', 'http']),
          randomValue(r, budget - 1),
        ]),
      );
  }
}

/** The template with one field (at some depth) replaced by a random value, removed, or doubled in size. */
function mutate(r: Rng, template: Record<string, unknown>): unknown {
  const copy = { ...template };
  const keys = Object.keys(copy);
  if (keys.length === 0) return randomValue(r);
  const key = r.pick(keys);
  const inner = copy[key];
  if (inner instanceof Base64Json && r.next() < 0.7)
    copy[key] = new Base64Json(r.next() < 0.5 ? randomValue(r) : mutate(r, inner.inner as Record<string, unknown>));
  else if (inner && typeof inner === 'object' && !Array.isArray(inner) && !(inner instanceof Base64Json) && r.next() < 0.4)
    copy[key] = mutate(r, inner as Record<string, unknown>);
  else if (r.next() < 0.15) delete copy[key];
  else copy[key] = randomValue(r);
  if (r.next() < 0.1) copy[oddString(r).slice(0, 200)] = randomValue(r);
  return copy;
}

export type FuzzBody = { text: string; contentType: string };

/** One body for a route whose valid body looks like `template`. */
export function fuzzBody(r: Rng, template: Record<string, unknown>): FuzzBody {
  const json = (v: unknown): FuzzBody => ({ text: toJson(v), contentType: 'application/json' });
  const roll = r.next();
  if (roll < 0.08)
    return {
      text: r.pick(['', '{', '{"a":', 'null', '[]', '"x"', '{"a":1}}', '\u0000', '{"a":1,"a":2}', '｛｝']),
      contentType: 'application/json',
    };
  if (roll < 0.12)
    return {
      text: toJson(template),
      contentType: r.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', '']),
    };
  if (roll < 0.3) return json(randomValue(r));
  return json(mutate(r, template));
}
