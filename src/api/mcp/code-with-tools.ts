/**
 * `execute_with_tools` (issue 27): a model writes one program that calls the project's saved tools
 * as functions — Python `from kiln_tools import weather`, TypeScript and JavaScript
 * `import { weather } from 'kiln:tools'` — so loops, joins and intermediate data stay in the code,
 * out of the model's context. The description lists each callable function with its input type,
 * compactly; past a size it lists the newest and points at search_tools for the rest.
 */
import { z } from 'zod';
import type { ExecutionRequest } from '../../execution/request.js';
import type { ToolSummary } from '../../store/store.js';
import { functionNames } from '../../tools/tool-modules.js';
import { typescriptType } from '../../tools/schema-types.js';
import { InputValue } from '../riza/schemas.js';
import { RESULT_SCHEMA } from './results.js';

export const EXECUTE_WITH_TOOLS = 'execute_with_tools';

/** How much of the description the signatures may take before the rest is left to search_tools. */
const SIGNATURES_MAX_CHARS = 8000;

/** One line a tool: `weather(input: { city: string }) — The weather at a place.` */
function signatures(tools: readonly ToolSummary[]): { lines: string[]; left: number } {
  const names = functionNames(tools);
  const lines: string[] = [];
  let size = 0;
  // newest first: the ones a project added last are the likeliest asked about
  for (const t of [...tools].reverse()) {
    const summary = t.description.split('\n')[0]!.slice(0, 160);
    const line = `- ${names.get(t.id)}(input: ${typescriptType(t.inputSchema ?? { type: 'object' })})${summary ? ` — ${summary}` : ''}`;
    if (size + line.length > SIGNATURES_MAX_CHARS) break;
    lines.push(line);
    size += line.length + 1;
  }
  return { lines, left: tools.length - lines.length };
}

export function executeWithToolsDefinition(
  tools: readonly ToolSummary[],
  bounds: { maxTimeout: number; maxCalls: number },
  searchTool: string,
) {
  const { maxTimeout, maxCalls } = bounds;
  const { lines, left } = signatures(tools);
  const description = [
    "Runs a program that calls this project's saved tools as functions, in a fresh locked-down sandbox; each call runs the tool in a sandbox of its own, with credentials the program never sees.",
    'Python: `from kiln_tools import name1, name2` (ToolError too). TypeScript/JavaScript: `import { name1, ToolError } from "kiln:tools"`; every function is async.',
    "A function takes the tool's input object and returns its output; a failed tool raises ToolError (its .error has type and message). Loop, filter and join in code, and print or return only what you need.",
    'Script mode (no `input`): print what you want back. Function mode (`input` given): define execute(input) and return the answer.',
    `At most ${maxCalls} tool calls a run; the time limit \`timeout_seconds\` (at most ${maxTimeout}) covers the calls too.`,
    lines.length ? `Callable functions:\n${lines.join('\n')}` : 'This project has no saved tools yet.',
    ...(left > 0 ? [`…and ${left} more: find them with ${searchTool}, and name the ones you import in \`tools\`.`] : []),
  ].join('\n');
  return {
    name: EXECUTE_WITH_TOOLS,
    title: 'Run code that calls saved tools',
    description,
    inputSchema: {
      type: 'object',
      properties: {
        language: { type: 'string', enum: ['python', 'typescript', 'javascript'], default: 'python' },
        code: { type: 'string', description: 'The program.' },
        input: { description: 'Give it to call execute(input) (function mode); leave it out to run a script.' },
        tools: { type: 'array', items: { type: 'string' }, description: 'The tools it calls, by name or id; default: every tool listed.' },
        timeout_seconds: { type: 'number', exclusiveMinimum: 0, maximum: maxTimeout },
      },
      required: ['code'],
      additionalProperties: false,
    },
    outputSchema: RESULT_SCHEMA,
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: true },
  };
}

const Arguments = z.strictObject({
  language: z.enum(['python', 'typescript', 'javascript']).default('python'),
  code: z.string().min(1, 'must not be empty'),
  input: InputValue,
  tools: z.array(z.string().min(1).max(128)).min(1).max(100).optional(),
  timeout_seconds: z.number().positive().optional(),
});

/** Its arguments as the core's request; a bad argument is a ZodError naming it. */
export function executeWithToolsRequest(project: string, raw: Record<string, unknown>): ExecutionRequest {
  const args = Arguments.parse(raw);
  const common = {
    project,
    via: 'mcp' as const,
    target: { kind: 'code' as const, language: args.language, code: args.code },
    limits: { executionTimeout: args.timeout_seconds ?? null },
    tools: args.tools ?? ('all' as const),
  };
  return Object.hasOwn(raw, 'input')
    ? { ...common, mode: 'function', input: args.input ?? null }
    : { ...common, mode: 'script', args: [], stdin: '' };
}
