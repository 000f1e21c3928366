/**
 * A tool's input schema as a type: TypeScript for `kiln:tools`' declarations, Python (TypedDict) for
 * `kiln_tools`. The subset tools' schemas use (object, array, the scalars, enum, const, anyOf/oneOf,
 * nullable types, $ref to local $defs by name); anything else is `unknown` / `Any`, never an error:
 * the declaration documents the call, and the tool's own schema check still runs on every call.
 * (json-schema-to-typescript covers more, but brings a formatter and a resolver to every request.)
 */
type Schema = Record<string, unknown>;

const isSchema = (s: unknown): s is Schema => typeof s === 'object' && s !== null && !Array.isArray(s);
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_DEPTH = 6;

/** `$ref: "#/$defs/Name"` → `Name` (declared beside), anything else unknown. */
const refName = (ref: unknown) =>
  typeof ref === 'string' ? /^#\/(?:\$defs|definitions)\/([A-Za-z_][A-Za-z0-9_]*)$/.exec(ref)?.[1] : undefined;

export function typescriptType(s: unknown, depth = 0): string {
  if (!isSchema(s) || depth > MAX_DEPTH) return 'unknown';
  const ref = refName(s.$ref);
  if (ref) return ref;
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ') || 'never';
  const union = (s.anyOf ?? s.oneOf) as unknown;
  if (Array.isArray(union)) return union.map((u) => typescriptType(u, depth + 1)).join(' | ') || 'unknown';
  if (Array.isArray(s.type)) return s.type.map((t) => typescriptType({ ...s, type: t }, depth + 1)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `Array<${typescriptType(s.items, depth + 1)}>`;
    case 'object':
    case undefined: {
      if (!isSchema(s.properties)) return s.type === 'object' ? 'Record<string, unknown>' : 'unknown';
      const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
      const fields = Object.entries(s.properties).map(([name, p]) => {
        const doc = isSchema(p) && typeof p.description === 'string' ? `/** ${p.description.replace(/\*\//g, '* /')} */ ` : '';
        return `${doc}${IDENT.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${typescriptType(p, depth + 1)};`;
      });
      return `{ ${fields.join(' ')} }`;
    }
    default:
      return 'unknown';
  }
}

/** A JSON scalar as a Python literal (JSON's string escapes are Python's); null for what Literal cannot hold. */
function pythonLiteral(v: unknown): string | null {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return JSON.stringify(v);
  return null;
}

export function pythonType(s: unknown, depth = 0): string {
  if (!isSchema(s) || depth > MAX_DEPTH) return 'Any';
  const ref = refName(s.$ref);
  if (ref) return `"${ref}"`;
  const literals = 'const' in s ? [s.const] : Array.isArray(s.enum) ? s.enum : null;
  if (literals) {
    const each = literals.map(pythonLiteral);
    return each.length && each.every((l) => l !== null) ? `Literal[${each.join(', ')}]` : 'Any';
  }
  const union = (s.anyOf ?? s.oneOf) as unknown;
  if (Array.isArray(union)) return union.map((u) => pythonType(u, depth + 1)).join(' | ') || 'Any';
  if (Array.isArray(s.type)) return s.type.map((t) => pythonType({ ...s, type: t }, depth + 1)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'str';
    case 'integer':
      return 'int';
    case 'number':
      return 'float';
    case 'boolean':
      return 'bool';
    case 'null':
      return 'None';
    case 'array':
      return `list[${pythonType(s.items, depth + 1)}]`;
    case 'object':
      return 'dict[str, Any]';
    default:
      return 'Any';
  }
}

/** Words Python will not take as a name (a field of a class-form TypedDict is one). */
const PY_KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(
    ' ',
  ),
);

/** A Python TypedDict of an object schema's fields (total=False: the tool's schema says which are required). */
export function pythonTypedDict(className: string, s: unknown): string {
  if (!isSchema(s) || !isSchema(s.properties)) return `${className} = dict[str, Any]`;
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  const entries = Object.entries(s.properties);
  const spellable = (name: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !PY_KEYWORDS.has(name);
  // a field whose name Python cannot spell makes the functional form necessary; its types are
  // strings there (forward references), since that form evaluates what it is given as it loads
  if (!entries.every(([name]) => spellable(name)))
    return `${className} = TypedDict(${JSON.stringify(className)}, {${entries
      .map(([n, p]) => `${JSON.stringify(n)}: ${JSON.stringify(pythonType(p, 1))}`)
      .join(', ')}}, total=False)`;
  const fields = entries.map(([name, p]) => {
    const t = pythonType(p, 1);
    return `    ${name}: ${required.has(name) ? t : `NotRequired[${t}]`}`;
  });
  return `class ${className}(TypedDict):\n${fields.length ? fields.join('\n') : '    pass'}`;
}
