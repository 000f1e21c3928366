/**
 * The module a box gets when its execution may call tools (issue 27): `kiln_tools` in Python,
 * `kiln:tools` in JavaScript and TypeScript. One function per tool, named for the tool, taking the
 * tool's input and answering its output, or raising ToolError with the tool's error. A call is an
 * HTTP request to `http://kiln-tools/call/<tool id>` through the box's own proxy (the tunnel to
 * kiln), which runs the tool in a box of its own (src/execution/tool-gateway.ts). The same text, less
 * its plumbing, is the declaration GET /v1/tools/{id}/definition?format=typescript|python answers.
 */
import { TOOLS_HOST } from '../egress/session.js';
import type { Tool } from '../store/store.js';
import { takesObject } from './definitions.js';
import { pythonType, pythonTypedDict, typescriptType } from './schema-types.js';

export { TOOLS_HOST };

// Words a function may not be named: the languages' own, and the names the modules' code uses
// (a tool named `fetch` must not shadow the fetch its calls make). The modules' helpers start with
// two underscores, which functionNames never makes (it squeezes underscores).
const JS_RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static await implements interface package private protected public arguments eval undefined NaN Infinity globalThis fetch JSON Error Object Promise ToolError tools'.split(
    ' ',
  ),
);
const PY_RESERVED = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield annotations isinstance dict super Exception ToolError Any Literal NotRequired TypedDict'.split(
    ' ',
  ),
);

export type ToolSignature = Pick<Tool, 'id' | 'name' | 'description' | 'inputSchema'>;

/** Each tool's function name in the module: its name as an identifier, unique, never a reserved word. */
export function functionNames(tools: readonly ToolSignature[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const t of tools) {
    let name =
      t.name
        .trim()
        .replace(/[^A-Za-z0-9_]/g, '_')
        .replace(/_+/g, '_') || 'tool';
    if (/^[0-9]/.test(name)) name = `_${name}`;
    if (JS_RESERVED.has(name) || PY_RESERVED.has(name)) name = `${name}_`;
    let unique = name;
    for (let i = 2; taken.has(unique); i++) unique = `${name}_${i}`;
    taken.add(unique);
    names.set(t.id, unique);
  }
  return names;
}

/** `get_weather` → `GetWeatherInput`; one that would start with a digit keeps its underscore. */
const typeName = (fn: string) => {
  const camel = fn.replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase()).replace(/^_+(?=[A-Za-z])/, '');
  return `${/^[0-9]/.test(camel) ? `_${camel}` : camel}Input`;
};
const comment = (text: string) => text.replace(/\*\//g, '* /').split('\n').join('\n   * ');

/** `declare module 'kiln:tools'`: what a TypeScript program calling these tools is checked against. */
export function typescriptDeclaration(tools: readonly ToolSignature[]): string {
  const names = functionNames(tools);
  const fns = tools.map((t) => {
    const doc = t.description ? `  /**\n   * ${comment(t.description)}\n   */\n` : '';
    return `${doc}  export function ${names.get(t.id)}(input: ${typescriptType(t.inputSchema ?? { type: 'object' })}): Promise<unknown>;`;
  });
  return [
    "declare module 'kiln:tools' {",
    '  /** A tool that failed: its error as kiln reports it (a raised error, a timeout, a budget spent). */',
    '  export class ToolError extends Error {',
    '    tool: string;',
    '    error: { type: string; message: string; execution_id?: string; stop_reason?: string; exit_code?: number; stderr?: string };',
    '  }',
    ...fns,
    '}',
    '',
  ].join('\n');
}

/** The `kiln:tools` module a JavaScript or TypeScript box imports; `base`: a session call's route (`/c/<call id>`). */
export function javascriptModule(tools: readonly ToolSignature[], base = ''): string {
  const names = functionNames(tools);
  return [
    '// kiln:tools, made by kiln for this execution: each function runs a saved tool in a box of its own.',
    'export class ToolError extends Error {',
    "  constructor(tool, error) { super(`${tool}: ${error?.message ?? 'failed'}`); this.name = 'ToolError'; this.tool = tool; this.error = error; }",
    '}',
    'async function __kilnCall(tool, name, input) {',
    `  const res = await fetch('http://${TOOLS_HOST}${base}/call/' + tool, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input === undefined ? {} : input) });`,
    '  let answer = null;',
    '  try { answer = await res.json(); } catch {}',
    '  if (res.ok && answer?.ok) return answer.output;',
    "  throw new ToolError(name, answer?.error ?? { type: 'gateway', message: `kiln answered ${res.status}` });",
    '}',
    ...tools.map(
      (t) => `export const ${names.get(t.id)} = (input) => __kilnCall(${JSON.stringify(t.id)}, ${JSON.stringify(t.name)}, input);`,
    ),
    `export const tools = { ${[...names.values()].join(', ')} };`,
    '',
  ].join('\n');
}

function pythonFunctions(tools: readonly ToolSignature[], body: (t: ToolSignature, payload: string) => string): string[] {
  const names = functionNames(tools);
  return tools.flatMap((t) => {
    const fn = names.get(t.id)!;
    // a docstring as a plain string literal (JSON's escapes are Python's): no quote in it can end it
    const doc = `    ${JSON.stringify(t.description || t.name)}`;
    if (!takesObject(t.inputSchema)) return ['', '', `def ${fn}(input: ${pythonType(t.inputSchema)}, /) -> Any:`, doc, body(t, 'input')];
    const type = typeName(fn);
    return [
      '',
      '',
      pythonTypedDict(type, t.inputSchema),
      '',
      '',
      `def ${fn}(input: ${type} | None = None, /, **fields: Any) -> Any:`,
      doc,
      body(t, '{**(input or {}), **fields}'),
    ];
  });
}

const PY_HEAD = ['from __future__ import annotations', '', 'from typing import Any, Literal, NotRequired, TypedDict'];

/** The `kiln_tools` stubs a Python program calling these tools is checked against. */
export function pythonDeclaration(tools: readonly ToolSignature[]): string {
  return [
    '# kiln_tools: the saved tools this execution may call (from kiln_tools import …)',
    ...PY_HEAD,
    '',
    '',
    'class ToolError(Exception):',
    '    """A tool that failed: .tool, and .error as kiln reports it (type, message, execution_id, …)."""',
    ...pythonFunctions(tools, () => '    ...'),
    '',
  ].join('\n');
}

/** The `kiln_tools` module a Python box imports; `base`: a session call's route (`/c/<call id>`). */
export function pythonModule(tools: readonly ToolSignature[], base = ''): string {
  return [
    '"""kiln_tools, made by kiln for this execution: each function runs a saved tool in a box of its own."""',
    ...PY_HEAD,
    'import json as __kiln_json',
    'import urllib.error as __kiln_error',
    'import urllib.request as __kiln_request',
    '',
    '',
    'class ToolError(Exception):',
    '    def __init__(self, tool, error):',
    "        super().__init__(f\"{tool}: {error.get('message', 'failed')}\")",
    '        self.tool = tool',
    '        self.error = error',
    '',
    '',
    'def __kiln_call(tool, name, payload):',
    `    req = __kiln_request.Request("http://${TOOLS_HOST}${base}/call/" + tool, data=__kiln_json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST")`,
    '    try:',
    '        with __kiln_request.urlopen(req) as res:',
    '            answer = __kiln_json.loads(res.read())',
    '    except __kiln_error.HTTPError as e:',
    '        try:',
    '            answer = __kiln_json.loads(e.read())',
    '        except Exception:',
    '            answer = None',
    '        if not isinstance(answer, dict) or "error" not in answer:',
    '            answer = {"ok": False, "error": {"type": "gateway", "message": f"kiln answered {e.code}"}}',
    '    if answer.get("ok"):',
    '        return answer["output"]',
    '    raise ToolError(name, answer.get("error") or {})',
    ...pythonFunctions(tools, (t, payload) => `    return __kiln_call(${JSON.stringify(t.id)}, ${JSON.stringify(t.name)}, ${payload})`),
    '',
  ].join('\n');
}
