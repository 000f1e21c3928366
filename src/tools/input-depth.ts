import { fieldError } from '../errors.js';

/**
 * How deep an execution's input may nest, for every surface alike (Riza, MCP, C1, iii, AT): deeper
 * JSON breaks the harnesses, and kiln's own JSON.stringify (sealing an invocation, logging an
 * execution) overflows the stack around a few thousand levels, which would be a 500.
 */

/** Deepest nesting of arrays and objects in a JSON value, found without recursion. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

// Python's harness parses the request (the input one level down) within its default recursion limit
// of 1,000: measured, 980 levels pass and 995 fail there; Node parses far deeper. 900 leaves room.
export const MAX_INPUT_DEPTH = 900;

/** Why an input is refused for its depth, worded the same on every surface. */
export const INPUT_TOO_DEEP = `must not nest arrays and objects deeper than ${MAX_INPUT_DEPTH} levels`;

/** Whether `value` is within MAX_INPUT_DEPTH. */
export const inputDepthOk = (value: unknown): boolean => jsonDepth(value) <= MAX_INPUT_DEPTH;

/** A 400 naming `field` (the adapter's own name for the input) when `value` nests too deep. */
export function checkInputDepth(value: unknown, field: string): void {
  if (!inputDepthOk(value)) throw fieldError(field, 'too_deep', INPUT_TOO_DEEP);
}
