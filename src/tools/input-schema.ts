import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { RE2JS } from 're2js';
import { AppError, type ErrorDetail } from '../errors.js';
import { checkSchemaBounds } from './schema-bounds.js';
import { findInPlaceCycle, ROOT_ID } from './schema-cycles.js';

/**
 * Tool input schemas: JSON Schema draft 2020-12 (the default) or draft-07 (`$schema` says so),
 * checked with ajv when a tool is saved and applied to every input before a container is used.
 *
 * `pattern` keywords run on RE2 (linear time), not on V8's backtracking engine: a schema is
 * written by a caller, and a pattern like `(a+)+$` must not be able to stall kiln's event loop.
 */
const re2 = Object.assign(
  (pattern: string, flags: string) => {
    const compiled = RE2JS.compile(pattern, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
    // ajv keys its compiled patterns by toString(): each must name its own pattern
    return { test: (s: string) => compiled.matcher(s).find(), toString: () => `/${pattern}/${flags}` };
  },
  { code: 're2' },
);
// addUsedSchema false: a schema's `$id` is not registered with the (shared) instance, so one tool's
// schema can never `$ref` another's (another project's, say), nor claim an `$id` first.
const options = { allErrors: true, strict: false, validateFormats: false, addUsedSchema: false, code: { regExp: re2 } } as const;

/**
 * JSON equality in linear time: ajv's own `uniqueItems` compares objects pairwise (a 40,000-item
 * array took 24 s) and `enum` compares each value with every entry. Canonical JSON (object keys
 * sorted) in a Set does both in one pass over the data.
 */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`)
    .join(',')}}`;
}

function withLinearEquality<T extends Ajv | Ajv2020>(ajv: T): T {
  ajv.removeKeyword('uniqueItems').removeKeyword('enum').removeKeyword('const');
  ajv.addKeyword({
    keyword: 'uniqueItems',
    type: 'array',
    schemaType: 'boolean',
    error: { message: 'must not have duplicate items' },
    validate: (unique: boolean, data: unknown[]) => !unique || new Set(data.map(canonical)).size === data.length,
  });
  ajv.addKeyword({
    keyword: 'enum',
    schemaType: 'array',
    error: { message: 'must be equal to one of the allowed values' },
    compile: (allowed: unknown[]) => {
      const set = new Set(allowed.map(canonical));
      return (data: unknown) => set.has(canonical(data));
    },
  });
  ajv.addKeyword({
    keyword: 'const',
    error: { message: 'must be equal to constant' },
    compile: (expected: unknown) => {
      const want = canonical(expected);
      return (data: unknown) => canonical(data) === want;
    },
  });
  return ajv;
}
/**
 * The engines, replaced by a fresh pair every MAX_COMPILED compilations: an ajv instance keeps a
 * scope of values for everything it ever compiled, so one that lived for ever would only grow.
 * A validator keeps its own generation alive until the cache lets it go.
 */
let engines = { draft2020: withLinearEquality(new Ajv2020(options)), draft07: withLinearEquality(new Ajv(options)), compiles: 0 };

const MAX_COMPILED = 500;
const DRAFT_07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;
const DRAFT_2020 = /^https:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/;

function engineFor(schema: unknown, field: string): Ajv | Ajv2020 {
  const declared = (schema as { $schema?: unknown }).$schema;
  if (++engines.compiles > MAX_COMPILED)
    engines = { draft2020: withLinearEquality(new Ajv2020(options)), draft07: withLinearEquality(new Ajv(options)), compiles: 1 };
  if (declared === undefined || (typeof declared === 'string' && DRAFT_2020.test(declared))) return engines.draft2020;
  if (typeof declared === 'string' && DRAFT_07.test(declared)) return engines.draft07;
  throw new AppError(
    'BAD_REQUEST',
    `${field}.$schema: kiln validates draft 2020-12 and draft-07 schemas (got ${JSON.stringify(declared).slice(0, 100)})`,
    [{ field: `${field}.$schema`, reason: 'unsupported_draft' }],
  );
}

const where = (e: ErrorObject) => e.instancePath || '(root)';
const describe = (errors: ErrorObject[] | null | undefined, prefix: string): ErrorDetail[] =>
  (errors ?? []).slice(0, 20).map((e) => ({
    // a missing property is named itself, not its parent
    field: `${prefix}${e.instancePath.replaceAll('/', '.')}${e.keyword === 'required' ? `.${(e.params as { missingProperty: string }).missingProperty}` : ''}`,
    reason: e.keyword,
    message: `${where(e)} ${e.message ?? 'is invalid'}`,
  }));

// Compiled validators by schema text: a revision's schema never changes, so each is compiled once.
const compiled = new Map<string, ValidateFunction>();

/** A stack overflow in ajv as the 400 it is: the schema (or the data with it) recurses too deep to evaluate. */
const overflow = (fields: string[], why: string) =>
  new AppError(
    'BAD_REQUEST',
    `${fields[0]}: ${why}`,
    fields.map((field) => ({ field, reason: 'schema_overflow', message: why })),
  );

/**
 * Compiles a schema already known to be valid and free of in-place loops. Without an `$id`, ajv
 * (given addUsedSchema false) cannot resolve `"$ref": "#"`, the usual way a tree refers to its
 * node: the schema is compiled under kiln's own base URI, as the cycle walk reads it. ajv registers
 * every embedded `$id` on the shared instance while compiling; they are taken off again, so no
 * schema ever resolves a reference through another's (nor the cycle walk's view go stale).
 */
function compileRooted(ajv: Ajv | Ajv2020, schema: Record<string, unknown>): ValidateFunction {
  const before = new Set(Object.keys(ajv.refs));
  try {
    return ajv.compile(typeof schema.$id === 'string' ? schema : { $id: ROOT_ID, ...schema });
  } finally {
    for (const ref of Object.keys(ajv.refs)) if (!before.has(ref)) delete ajv.refs[ref];
  }
}

/** Compiles `schema`; a 400 naming the problem under `field` when it is not a valid schema. */
export function compileInputSchema(schema: unknown, field = 'input_schema'): ValidateFunction {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema))
    throw new AppError('BAD_REQUEST', `${field}: must be a JSON Schema object`, [{ field, reason: 'invalid_schema' }]);
  // the bounds first: everything after this walks the schema, some of it recursively
  checkSchemaBounds(schema, field);
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) return hit;
  const ajv = engineFor(schema, field);
  let validate: ValidateFunction;
  try {
    if (!ajv.validateSchema(schema)) {
      const details = describe(ajv.errors, field);
      throw new AppError('BAD_REQUEST', `${field}: not a valid JSON Schema: ${details.map((d) => d.message).join('; ')}`, details);
    }
    const cycle = findInPlaceCycle(schema);
    if (cycle) {
      const why = `refers back to itself without descending into a property or item (${cycle.slice(0, 8).join(' → ')}${cycle.length > 8 ? ' → …' : ''}): no input could ever be checked against it`;
      throw new AppError('BAD_REQUEST', `${field}: ${why}`, [{ field, reason: 'schema_cycle', message: why }]);
    }
    validate = compileRooted(ajv, schema as Record<string, unknown>);
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (error instanceof RangeError) throw overflow([field], 'is too deeply recursive to compile');
    // an unresolvable $ref, a pattern RE2 cannot run (backreferences, lookaround), …
    throw new AppError('BAD_REQUEST', `${field}: ${(error as Error).message}`, [{ field, reason: 'invalid_schema' }]);
  }
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, validate);
  return validate;
}

/**
 * A 400 naming each path `input` breaks and the rule it breaks; nothing when there is no schema.
 * `names.schemaField` is the schema's own field, named when the schema itself cannot be evaluated.
 */
export function checkInput(
  schema: unknown,
  input: unknown,
  names: { field: string; schema: string; schemaField?: string } = { field: 'input', schema: "the tool's input_schema" },
): void {
  if (schema === null || schema === undefined) return;
  const schemaField = names.schemaField ?? 'input_schema';
  const validate = compileInputSchema(schema, schemaField);
  let valid: boolean;
  try {
    valid = validate(input) as boolean;
  } catch (error) {
    // the backstop behind the cycle walk: whatever recursion it could not foresee is the caller's 400
    if (error instanceof RangeError)
      throw overflow(
        [names.field, schemaField],
        `could not be checked against ${names.schema}: the check recursed too deep (the schema loops on itself, or the input nests too deep for it)`,
      );
    throw error;
  }
  if (valid) return;
  const details = describe(validate.errors, names.field);
  throw new AppError('BAD_REQUEST', `${names.field} does not match ${names.schema}: ${details.map((d) => d.message).join('; ')}`, details);
}
