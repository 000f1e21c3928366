import { AppError } from '../errors.js';
import type { Tool } from '../store/store.js';

export const DEFINITION_FORMATS = ['openai', 'openai-responses', 'anthropic', 'mcp', 'gemini'] as const;
export type DefinitionFormat = (typeof DEFINITION_FORMATS)[number];

/** What each API accepts as a tool's name. */
const NAMES: Record<DefinitionFormat, { invalid: RegExp; max: number; mustStart?: RegExp }> = {
  openai: { invalid: /[^a-zA-Z0-9_-]/g, max: 64 },
  'openai-responses': { invalid: /[^a-zA-Z0-9_-]/g, max: 64 },
  anthropic: { invalid: /[^a-zA-Z0-9_-]/g, max: 64 },
  mcp: { invalid: /[^a-zA-Z0-9_.-]/g, max: 128 },
  // a letter or an underscore first
  gemini: { invalid: /[^a-zA-Z0-9_.:-]/g, max: 64, mustStart: /^[a-zA-Z_]/ },
};

/** The tool's name made valid for `format`: other characters become `_`, cut to the length it takes. */
export function definitionName(name: string, format: DefinitionFormat): string {
  const rule = NAMES[format];
  let safe = name.trim().replace(/\s+/g, '_').replace(rule.invalid, '_').replace(/_+/g, '_');
  if (!safe || /^_+$/.test(safe)) safe = 'tool';
  if (rule.mustStart && !rule.mustStart.test(safe)) safe = `_${safe}`;
  return safe.slice(0, rule.max);
}

/** Whether a tool's input schema describes an object (none counts: the input is then any object). */
export const takesObject = (inputSchema: unknown): boolean =>
  inputSchema === null ||
  inputSchema === undefined ||
  (typeof inputSchema === 'object' && (inputSchema as { type?: unknown }).type === 'object');

/**
 * The one builder of a tool's parameters, for every tool-calling API kiln describes tools to (the
 * /definition formats and /mcp's listing): an object schema (none means any object), without
 * `$schema` / `$id`, which they do not want. A schema of another type cannot be parameters: MCP
 * (`wrap`) takes it as `{input: <schema>}`, which is how kiln's MCP server passes it to the tool;
 * the other APIs (`reject`) get a 400 naming input_schema.
 */
export function parametersOf(inputSchema: unknown, nonObject: 'wrap' | 'reject'): Record<string, unknown> {
  if (inputSchema === null || inputSchema === undefined)
    return nonObject === 'wrap'
      ? { type: 'object', description: 'Any JSON object; it is passed to the tool as its input.' }
      : { type: 'object', properties: {} };
  const { $schema: _s, $id: _i, ...schema } = inputSchema as Record<string, unknown>;
  if (takesObject(schema)) return schema;
  if (nonObject === 'reject')
    throw new AppError(
      'BAD_REQUEST',
      `input_schema: LLM APIs take parameters as an object schema; this tool's input_schema has type ${JSON.stringify(schema.type ?? null)}`,
      [{ field: 'input_schema', reason: 'not_an_object' }],
    );
  // $defs stay at the root, where the schema's "#/$defs/…" references point
  const { $defs, definitions, ...inner } = schema;
  return {
    type: 'object',
    properties: { input: inner },
    required: ['input'],
    additionalProperties: false,
    ...($defs ? { $defs } : {}),
    ...(definitions ? { definitions } : {}),
  };
}

/** A tool's description for a model, or one made from its name when it has none. */
export const descriptionOf = (tool: Pick<Tool, 'name' | 'description' | 'language'>): string =>
  tool.description || `Runs the saved ${tool.language} tool "${tool.name}".`;

/**
 * Whether OpenAI's strict mode can take the schema: every object closed (additionalProperties
 * false) with every property required, all the way down.
 */
export function strictable(schema: unknown): boolean {
  if (schema === null || typeof schema !== 'object') return true;
  if (Array.isArray(schema)) return schema.every(strictable);
  const s = schema as Record<string, unknown>;
  const isObject = s.type === 'object' || (Array.isArray(s.type) && s.type.includes('object')) || s.properties !== undefined;
  if (isObject) {
    const keys = Object.keys((s.properties as Record<string, unknown>) ?? {});
    const required = Array.isArray(s.required) ? s.required : [];
    if (s.additionalProperties !== false || !keys.every((k) => required.includes(k))) return false;
  }
  for (const key of ['properties', '$defs', 'definitions'])
    if (s[key] && typeof s[key] === 'object' && !Object.values(s[key] as object).every(strictable)) return false;
  for (const key of ['items', 'anyOf', 'allOf', 'oneOf', 'prefixItems']) if (s[key] !== undefined && !strictable(s[key])) return false;
  return true;
}

/** The tool as `format`'s API takes a tool definition. */
export function toolDefinition(tool: Tool, format: DefinitionFormat): Record<string, unknown> {
  const name = definitionName(tool.name, format);
  const description = descriptionOf(tool);
  const params = parametersOf(tool.inputSchema, format === 'mcp' ? 'wrap' : 'reject');
  const strict = strictable(params) ? { strict: true } : {};
  switch (format) {
    case 'openai':
      return { type: 'function', function: { name, description, parameters: params, ...strict } };
    case 'openai-responses':
      return { type: 'function', name, description, parameters: params, ...strict };
    case 'anthropic':
      return { name, description, input_schema: params };
    case 'mcp':
      return { name, description, inputSchema: params };
    case 'gemini':
      // parametersJsonSchema takes JSON Schema as it is (`parameters` wants Gemini's OpenAPI subset)
      return { name, description, parametersJsonSchema: params };
  }
}
