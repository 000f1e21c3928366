import { z } from 'zod';
import { fieldError } from '../../errors.js';
import type { ExecutionRequest } from '../../execution/request.js';
import type { Language } from '../../runtimes/registry.js';
import { InputFile, InputValue } from '../riza/schemas.js';
import { RESULT_SCHEMA } from './results.js';

/** The tools every project lists: literal code in each language. */
export const BUILTINS: Record<string, Language> = {
  execute_python: 'python',
  execute_javascript: 'javascript',
  execute_typescript: 'typescript',
};

const FUNCTION_FORM: Record<Language, string> = {
  python: 'def execute(input): ... return value',
  javascript: 'function execute(input) { ... return value; }',
  typescript: 'function execute(input: any) { ... return value; }',
};

/**
 * The mode rule, in one place because the description tells the model: `input` given (even null)
 * → function mode, the code must define execute(input) and the answer is its return value;
 * otherwise a script, whose stdout is the answer. No guessing from the code, so a model can
 * always tell which one it asked for.
 */
export const isFunctionCall = (args: Record<string, unknown>) => Object.hasOwn(args, 'input');

function description(language: Language, maxTimeout: number): string {
  const name =
    language === 'typescript'
      ? 'TypeScript (types are stripped, not checked)'
      : language === 'python'
        ? 'Python 3'
        : 'JavaScript (Node, ES modules)';
  return [
    `Runs ${name} in a fresh, locked-down sandbox with no network access, and returns its exit code, stdout and stderr.`,
    `Script mode (no \`input\`): the code runs top to bottom; print what you want back. \`stdin\` is its standard input.`,
    `Function mode (\`input\` given): the code must define \`${FUNCTION_FORM[language]}\`; it is called with \`input\` and its JSON-serialisable return value comes back as \`output\`.`,
    `\`files\` are written under /mnt/req (the working directory) before the code runs. Time limit: \`timeout_seconds\` (at most ${maxTimeout}).`,
    'A failure (exception, non-zero exit, timeout, out of memory) comes back with isError set; read stderr and try again.',
  ].join('\n');
}

/** The MCP definition of each built-in, with the configured timeout ceiling in its schema. */
export function builtinDefinitions(maxTimeout: number) {
  return Object.entries(BUILTINS).map(([name, language]) => ({
    name,
    title: `Run ${language === 'python' ? 'Python' : language === 'typescript' ? 'TypeScript' : 'JavaScript'}`,
    description: description(language, maxTimeout),
    inputSchema: {
      type: 'object',
      properties: {
        code: { type: 'string', description: 'The program.' },
        input: { description: 'Give it to call execute(input) (function mode); leave it out to run a script.' },
        stdin: { type: 'string', description: 'Standard input of a script.' },
        files: {
          type: 'array',
          description: 'Files written under /mnt/req before the code runs.',
          items: {
            type: 'object',
            properties: { path: { type: 'string' }, contents: { type: 'string' } },
            required: ['path', 'contents'],
            additionalProperties: false,
          },
        },
        timeout_seconds: { type: 'number', exclusiveMinimum: 0, maximum: maxTimeout },
        session_id: {
          type: 'string',
          description:
            "Run in this session (start_session) instead of a fresh sandbox: the session's variables and files persist between calls; the value of the last expression comes back as output.",
        },
      },
      required: ['code'],
      additionalProperties: false,
    },
    outputSchema: RESULT_SCHEMA,
    annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
  }));
}

const Arguments = z.strictObject({
  code: z.string().min(1, 'must not be empty'),
  input: InputValue,
  stdin: z.string().optional(),
  files: z.array(InputFile).max(1000).optional(),
  timeout_seconds: z.number().positive().optional(),
  session_id: z.string().min(1).max(256).optional(),
});

/** A built-in's arguments when they name a session: code for its default context. */
export function sessionArguments(raw: Record<string, unknown>): { sessionId: string; code: string; timeoutSeconds?: number } | null {
  if (raw.session_id === undefined) return null;
  const args = Arguments.parse(raw);
  for (const field of ['input', 'stdin', 'files'] as const)
    if (Object.hasOwn(raw, field))
      throw fieldError(field, 'conflict', `not with session_id: in a session, code runs in its interpreter (write files with write_file)`);
  return {
    sessionId: args.session_id!,
    code: args.code,
    ...(args.timeout_seconds ? { timeoutSeconds: Math.ceil(args.timeout_seconds) } : {}),
  };
}

/** A built-in's arguments as the core's request; a bad argument is a ZodError naming it. */
export function builtinRequest(project: string, language: Language, raw: Record<string, unknown>): ExecutionRequest {
  const args = Arguments.parse(raw);
  if (isFunctionCall(raw) && args.stdin !== undefined)
    throw fieldError('stdin', 'conflict', 'give input (function mode) or stdin (script mode), not both');
  const common = {
    project,
    via: 'mcp' as const,
    target: { kind: 'code' as const, language, code: args.code },
    files: args.files ?? [],
    limits: { executionTimeout: args.timeout_seconds ?? null },
  };
  return isFunctionCall(raw)
    ? { ...common, mode: 'function', input: args.input ?? null }
    : { ...common, mode: 'script', args: [], stdin: args.stdin ?? '' };
}

/** The core's names for fields, as this tool's arguments call them. */
export const BUILTIN_FIELDS: Record<string, string> = { 'limits.execution_timeout': 'timeout_seconds' };
