import { fieldError } from '../errors.js';
import { jsonDepth } from './input-depth.js';

/**
 * The size bound of every schema-like value a caller saves: a tool's input_schema, an iii
 * function's request_format, response_format and metadata. Without it a value nested a thousand
 * deep overflows ajv's meta-validation (or the store's JSON.stringify) and the save is a 500.
 */
export const MAX_SCHEMA_DEPTH = 64;
export const MAX_SCHEMA_BYTES = 256 * 1024;

/**
 * Why `value` is out of bounds, or null. The depth comes first and is measured without recursion:
 * a value nested thousands deep must be refused before anything walks it recursively
 * (JSON.stringify, measuring the bytes, would overflow the stack itself).
 */
export function schemaBoundsProblem(value: unknown): string | null {
  if (jsonDepth(value) > MAX_SCHEMA_DEPTH) return `must not nest deeper than ${MAX_SCHEMA_DEPTH} levels`;
  if (Buffer.byteLength(JSON.stringify(value) ?? '') > MAX_SCHEMA_BYTES) return `must be at most ${MAX_SCHEMA_BYTES} bytes of JSON`;
  return null;
}

/** A 400 naming `field` when `value` is out of bounds. */
export function checkSchemaBounds(value: unknown, field: string): void {
  const problem = schemaBoundsProblem(value);
  if (problem) throw fieldError(field, 'too_large', problem);
}

/** The bound as a zod refinement (`.superRefine(refineSchemaBounds)`): the issue lands on the field's own path. */
export function refineSchemaBounds(value: unknown, ctx: { addIssue: (issue: { code: 'custom'; message: string }) => void }): void {
  if (value === undefined) return;
  const problem = schemaBoundsProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}
