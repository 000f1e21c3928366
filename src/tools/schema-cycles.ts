/**
 * Finds the loops that make a JSON Schema impossible to evaluate: a chain of in-place applicators
 * ($ref, $dynamicRef, allOf, anyOf, oneOf, not, if/then/else, dependentSchemas) that comes back to
 * where it started without descending into a property or an item. ajv compiles such a schema, and
 * every validation then recurses on the same value until the stack overflows. A loop that passes
 * through `properties`, `items` and the like is a recursive schema (a tree), and ends with its data.
 *
 * The walk is a sound over-approximation of ajv's own resolution: every target ajv could pick for a
 * reference is an edge here. $dynamicRef in particular is resolved by ajv at run time to the nearest
 * `$dynamicAnchor` of its name or, failing one, to the function it is compiled in (the root, a
 * `$ref`'s target or an anchored subschema): each of those is an edge.
 */

/** Where `$ref`s that name no `$id` resolve: the same base ajv is given (src/tools/input-schema.ts). */
export const ROOT_ID = 'https://kiln.invalid/schema';

type Path = readonly string[];
type Kind = 'schema' | 'container' | 'array';

const IN_PLACE_ONE = ['not', 'if', 'then', 'else'];
const IN_PLACE_LIST = ['allOf', 'anyOf', 'oneOf'];
const IN_PLACE_MAP = ['dependentSchemas', 'dependencies'];
const CONSUMING_ONE = [
  'items',
  'additionalItems',
  'contains',
  'additionalProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
];
const CONSUMING_LIST = ['items', 'prefixItems'];
const CONSUMING_MAP = ['properties', 'patternProperties'];
/** Keywords whose value is a map of names to schemas, not a schema itself (so no `$id` of its own). */
const CONTAINERS = new Set(['$defs', 'definitions', 'properties', 'patternProperties', 'dependentSchemas', 'dependencies']);
/** Values ajv never reads `$id` or anchors from (json-schema-traverse's skipKeywords). */
const DATA = new Set([
  'default',
  'enum',
  'const',
  'required',
  'maximum',
  'minimum',
  'exclusiveMaximum',
  'exclusiveMinimum',
  'multipleOf',
  'maxLength',
  'minLength',
  'pattern',
  'format',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
]);

const pointer = (path: Path) => `#${path.map((p) => `/${p.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')}`;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isSchema = (v: unknown) => isObject(v) || typeof v === 'boolean';
const childKind = (parent: Kind, key: string, value: unknown): Kind =>
  Array.isArray(value) ? 'array' : parent === 'schema' && CONTAINERS.has(key) ? 'container' : 'schema';
const withoutHash = (url: URL) => url.href.replace(/#.*$/, '');

function resolveUrl(ref: string, base: string): URL | null {
  try {
    return new URL(ref, base);
  } catch {
    return null;
  }
}

/** Every `$id`, `$anchor` and `$dynamicAnchor` of the document, where ajv would find them and more. */
function indexDocument(root: unknown) {
  const resources = new Map<string, Path>();
  const anchors = new Map<string, Path[]>();
  const dynamicAnchors = new Map<string, Path[]>();
  const bases = new Map<string, string>();
  const add = (map: Map<string, Path[]>, key: string, path: Path) => map.set(key, [...(map.get(key) ?? []), path]);
  const stack: [unknown, Path, Kind, string][] = [[root, [], 'schema', ROOT_ID]];
  while (stack.length) {
    const [value, path, kind, parentBase] = stack.pop()!;
    if (!isObject(value) && !Array.isArray(value)) continue;
    let base = parentBase;
    if (kind === 'schema' && isObject(value)) {
      const id = typeof value.$id === 'string' ? resolveUrl(value.$id, base) : null;
      // draft-07 names an anchor with a fragment-only $id ("#foo"); any other $id is a resource
      if (id && id.hash.length > 1) add(anchors, id.href, path);
      else if (id) {
        base = withoutHash(id);
        resources.set(base, path);
      }
      if (path.length === 0) resources.set(base, path);
      for (const keyword of ['$anchor', '$dynamicAnchor'] as const)
        if (typeof value[keyword] === 'string') add(anchors, `${base}#${value[keyword]}`, path);
      if (typeof value.$dynamicAnchor === 'string') add(dynamicAnchors, value.$dynamicAnchor, path);
      bases.set(pointer(path), base);
    }
    for (const [key, child] of Object.entries(value))
      if (!(kind === 'schema' && DATA.has(key))) stack.push([child, [...path, key], childKind(kind, key, child), base]);
  }
  return { resources, anchors, dynamicAnchors, bases };
}

/**
 * The loop of in-place steps this schema holds (JSON pointers, the first repeated at the end), or
 * null when every loop in it descends into the instance. Iterative: a long chain of `$ref`s cannot
 * overflow the stack here either.
 */
export function findInPlaceCycle(root: unknown): string[] | null {
  const doc = indexDocument(root);
  const valueAt = (path: Path): unknown =>
    path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), root);
  // the base of a place no index walk reached (a $ref into `const`, say): the $ids on the way to it
  const baseOf = (path: Path): string => {
    for (let n = path.length; n >= 0; n--) {
      const base = doc.bases.get(pointer(path.slice(0, n)));
      if (base) return base;
    }
    return ROOT_ID;
  };
  const resolve = (ref: string, path: Path): Path[] => {
    const url = resolveUrl(ref, baseOf(path));
    const resource = url && doc.resources.get(withoutHash(url));
    if (!url || !resource) return []; // outside the document: ajv resolves only its meta-schemas there
    const fragment = url.hash.slice(1);
    try {
      if (fragment === '') return [resource];
      if (!fragment.startsWith('/')) return doc.anchors.get(`${withoutHash(url)}#${decodeURIComponent(fragment)}`) ?? [];
      // as ajv reads a pointer: split, then each part decoded and unescaped
      return [
        [
          ...resource,
          ...fragment
            .slice(1)
            .split('/')
            .map((p) => decodeURIComponent(p).replaceAll('~1', '/').replaceAll('~0', '~')),
        ],
      ];
    } catch {
      return []; // a malformed %-escape: ajv cannot resolve it either
    }
  };

  const inPlace = new Map<string, string[]>();
  const paths = new Map<string, Path>();
  const envRoots = new Set<string>(['#']);
  const dynamicRefs: Path[] = [];
  const work: Path[] = [[]];
  const visit = (path: Path) => {
    if (!paths.has(pointer(path))) work.push(path);
  };
  const drain = () => {
    while (work.length) {
      const path = work.pop()!;
      const key = pointer(path);
      if (paths.has(key)) continue;
      paths.set(key, path);
      const edges: string[] = [];
      inPlace.set(key, edges);
      const v = valueAt(path);
      if (!isObject(v)) continue; // a boolean schema (or a $ref to a non-schema) applies nothing
      const step = (child: Path, consuming: boolean) => {
        if (!isSchema(valueAt(child))) return;
        if (!consuming) edges.push(pointer(child));
        visit(child);
      };
      for (const k of IN_PLACE_ONE) step([...path, k], false);
      for (const k of CONSUMING_ONE) step([...path, k], true);
      for (const [list, consuming] of [
        [IN_PLACE_LIST, false],
        [CONSUMING_LIST, true],
      ] as const)
        for (const k of list) if (Array.isArray(v[k])) for (const i of (v[k] as unknown[]).keys()) step([...path, k, String(i)], consuming);
      for (const [map, consuming] of [
        [IN_PLACE_MAP, false],
        [CONSUMING_MAP, true],
      ] as const)
        for (const k of map) if (isObject(v[k])) for (const name of Object.keys(v[k])) step([...path, k, name], consuming);
      for (const k of ['$ref', '$dynamicRef'] as const) {
        if (typeof v[k] !== 'string') continue;
        const targets = resolve(v[k], path);
        if (k === '$dynamicRef') {
          targets.push(...(doc.dynamicAnchors.get((v[k] as string).replace(/^[^#]*#/, '')) ?? []));
          dynamicRefs.push(path);
        }
        for (const target of targets) {
          envRoots.add(pointer(target));
          edges.push(pointer(target));
          visit(target);
        }
      }
      if (typeof v.$dynamicAnchor === 'string') envRoots.add(key);
    }
  };
  // ajv's fallback for a $dynamicRef is the function it sits in: an enclosing place ajv compiles on
  // its own (which one depends on how it was reached, so each is an edge). Those places are known
  // once the walk is done; one not yet walked is walked in turn, until nothing new is reached.
  let added: boolean;
  do {
    drain();
    added = false;
    for (const path of dynamicRefs) {
      const edges = inPlace.get(pointer(path))!;
      for (let n = path.length; n >= 0; n--) {
        const ancestor = pointer(path.slice(0, n));
        if (!envRoots.has(ancestor) || edges.includes(ancestor)) continue;
        edges.push(ancestor);
        visit(path.slice(0, n));
        added = true;
      }
    }
  } while (added);
  return cycleIn(inPlace);
}

/** A cycle of the graph (its nodes, the first repeated at the end), by an iterative depth-first search. */
function cycleIn(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  for (const start of graph.keys()) {
    if (state.has(start)) continue;
    const stack: [string, number][] = [[start, 0]];
    state.set(start, 'open');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const next = graph.get(top[0])?.[top[1]++];
      if (next === undefined) {
        state.set(top[0], 'done');
        stack.pop();
      } else if (state.get(next) === 'open') {
        const from = stack.findIndex(([node]) => node === next);
        return [...stack.slice(from).map(([node]) => node), next];
      } else if (!state.has(next)) {
        state.set(next, 'open');
        stack.push([next, 0]);
      }
    }
  }
  return null;
}
