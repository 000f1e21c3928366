// Schemas that cannot be evaluated: an in-place loop ($ref, $dynamicRef, allOf, not, if/then, …)
// that never descends into the input makes ajv recurse until the stack overflows. The cycle walk
// refuses them when compiled; recursive schemas that descend (trees) stay accepted.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { checkInput, compileInputSchema } from '../../../src/tools/input-schema.js';
import { findInPlaceCycle } from '../../../src/tools/schema-cycles.js';

const D07 = 'http://json-schema.org/draft-07/schema#';

/** A tree `levels` nodes deep: {children: [{children: [...]}]}, two JSON levels per node. */
function tree(levels: number): object {
  const root: { children?: object[] } = {};
  let node = root;
  for (let i = 1; i < levels; i++) {
    const child = {};
    node.children = [child];
    node = child;
  }
  return root;
}

/** The AppError `fn` throws (the test fails when it throws nothing, or something else). */
function appError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

const CYCLIC: [string, object][] = [
  ['allOf back to the root', { allOf: [{ $ref: '#' }] }],
  ['a bare $ref to the root', { $ref: '#' }],
  ['a self-referencing $dynamicRef', { $dynamicAnchor: 'a', $dynamicRef: '#a' }],
  [
    '$defs through anyOf and not',
    { $ref: '#/$defs/a', $defs: { a: { anyOf: [{ $ref: '#/$defs/b' }] }, b: { not: { $ref: '#/$defs/a' } } } },
  ],
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable
  ['a loop only taken when "then" applies', { if: { required: ['k'] }, then: { $ref: '#' } }],
  ['dependentSchemas back to the root', { dependentSchemas: { k: { $ref: '#' } } }],
  ['a loop below a property', { properties: { a: { allOf: [{ $ref: '#/properties/a' }] } } }],
  ['an $anchor', { $defs: { a: { $anchor: 'foo', allOf: [{ $ref: '#foo' }] } }, $ref: '#foo' }],
  ['an embedded $id', { $id: 'http://x.test/root', $defs: { a: { $id: 'a.json', allOf: [{ $ref: 'a.json' }] } }, $ref: 'a.json' }],
  [
    'a $dynamicRef with no anchor (ajv calls the function it sits in)',
    { $defs: { x: { anyOf: [{ $dynamicRef: '#nope' }, { type: 'string' }] } }, $ref: '#/$defs/x' },
  ],
  ['an escaped pointer', { $defs: { 'a/b c': { allOf: [{ $ref: '#/$defs/a~1b%20c' }] } }, $ref: '#/$defs/a~1b%20c' }],
  ['a $ref into const', { const: { allOf: [{ $ref: '#/const' }] }, $ref: '#/const' }],
  ['draft-07 definitions', { $schema: D07, definitions: { a: { allOf: [{ $ref: '#/definitions/a' }] } }, $ref: '#/definitions/a' }],
  ['a draft-07 fragment $id', { $schema: D07, definitions: { a: { $id: '#foo', allOf: [{ $ref: '#foo' }] } }, $ref: '#foo' }],
];

const RECURSIVE: [string, object, unknown][] = [
  [
    'a tree whose children.items is the root',
    { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } } },
    tree(400),
  ],
  [
    'a tree in $defs',
    {
      $ref: '#/$defs/node',
      $defs: { node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } } } },
    },
    tree(400),
  ],
  [
    'an extensible tree by $dynamicRef',
    {
      $dynamicAnchor: 'node',
      type: 'object',
      properties: { children: { type: 'array', items: { anyOf: [{ $dynamicRef: '#node' }, { type: 'null' }] } } },
    },
    tree(400),
  ],
  ['unevaluatedProperties back to the root', { unevaluatedProperties: { $ref: '#' } }, { a: { b: { c: {} } } }],
  ['propertyNames back to the root', { propertyNames: { $ref: '#' } }, { a: 1 }],
  [
    'the meta-schema, with its anchor taken',
    { $dynamicAnchor: 'meta', allOf: [{ $ref: 'https://json-schema.org/draft/2020-12/schema' }] },
    { type: 'string' },
  ],
  [
    'a draft-07 tree',
    {
      $schema: D07,
      definitions: { n: { type: 'object', properties: { c: { items: { $ref: '#/definitions/n' } } } } },
      $ref: '#/definitions/n',
    },
    { c: [{ c: [] }] },
  ],
];

describe('schemas that loop without consuming the input', () => {
  it.each(CYCLIC)('finds the loop in %s', (_name, schema) => {
    const cycle = findInPlaceCycle(schema);
    expect(cycle).not.toBeNull();
    expect(cycle!.at(0)).toBe(cycle!.at(-1));
  });

  it.each(CYCLIC)('refuses %s with a 400 naming the field', (_name, schema) => {
    for (const field of ['input_schema', 'request_format']) {
      const err = appError(() => compileInputSchema(schema, field));
      expect(err.code).toBe('BAD_REQUEST');
      expect(err.message).toMatch(new RegExp(`^${field}: refers back to itself`));
      expect(err.details).toEqual([expect.objectContaining({ field, reason: 'schema_cycle' })]);
    }
  });

  it('names the places of the loop', () => {
    expect(findInPlaceCycle({ allOf: [{ $ref: '#' }] })).toEqual(['#', '#/allOf/0', '#']);
  });

  it('leaves alone a loop in $defs that nothing refers to (ajv never evaluates it)', () => {
    expect(findInPlaceCycle({ type: 'object', $defs: { a: { $ref: '#/$defs/a' } } })).toBeNull();
  });
});

describe('recursive schemas that descend into the input', () => {
  it.each(RECURSIVE)('accepts %s and validates with it', (_name, schema, input) => {
    expect(findInPlaceCycle(schema)).toBeNull();
    expect(compileInputSchema(schema)(input)).toBe(true);
  });

  it('checks a tree 400 nodes deep against its schema, and finds a bad node at the bottom', () => {
    const schema = { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } }, additionalProperties: false };
    expect(() => checkInput(schema, tree(400))).not.toThrow();
    const bad = tree(400) as { children: object[] };
    let node: { children?: object[]; oops?: number } = bad;
    while (node.children) node = node.children[0]!;
    node.oops = 1;
    const err = appError(() => checkInput(schema, bad));
    expect(err.details?.[0]).toMatchObject({ reason: 'additionalProperties' });
  });
});

describe('the backstop: an overflow is a 400, never a 500', () => {
  it('a validation that overflows the stack is a 400 naming the input and the schema', () => {
    // the tree schema is sound, but an input far deeper than any surface admits overflows ajv
    const schema = { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } } };
    const err = appError(() =>
      checkInput(schema, tree(20_000), { field: 'data', schema: "the function's request_format", schemaField: 'request_format' }),
    );
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(/^data: could not be checked against the function's request_format/);
    expect(err.details?.map((d) => [d.field, d.reason])).toEqual([
      ['data', 'schema_overflow'],
      ['request_format', 'schema_overflow'],
    ]);
  });

  it('a schema past the depth bound is refused by its depth before anything walks it', () => {
    const deep = JSON.parse(`${'{"not":'.repeat(10_000)}{}${'}'.repeat(10_000)}`) as object;
    const err = appError(() => compileInputSchema(deep, 'request_format'));
    expect(err.details?.[0]).toMatchObject({ field: 'request_format', reason: 'too_large' });
    expect(err.message).toContain('must not nest deeper than 64 levels');
  });
});
