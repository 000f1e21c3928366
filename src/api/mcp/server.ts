import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { fieldError } from '../../errors.js';
import type { Execute } from '../../execution/executor.js';
import { checkInputDepth } from '../../tools/input-depth.js';
import type { ExecutionContext } from '../../execution/request.js';
import type { Tools } from '../../tools/tools.js';
import { BUILTIN_FIELDS, BUILTINS, builtinDefinitions, builtinRequest, sessionArguments } from './builtins.js';
import { callSessionTool, SESSION_TOOL_DEFINITIONS, SESSION_TOOLS, sessionCallResult, type SessionToolDeps } from './session-tools.js';
import { CALL_TOOL, catalog, definitionOf, search, SEARCH_TOOLS, type CatalogEntry } from './catalog.js';
import { toMcpError } from './errors.js';
import { toolResult } from './results.js';
import { progressReporter } from './progress.js';
import type { RunStream } from '../../sandbox/job.js';

export interface McpDeps {
  tools: Tools;
  execute: Execute;
  /** Past this many saved tools, the listing offers search_tools and call_tool instead of each. */
  listLimit: number;
  /** Bytes of stdout, of stderr and of a return value a model is given (head and tail). */
  outputLimit: number;
  maxTimeoutSeconds: number;
  /** Sessions, their calls and files: the session tools and `session_id` on the built-ins. */
  sessions: Omit<SessionToolDeps, 'outputLimit'>;
  log: Logger;
}

// The SDK makes a new ajv for each Server unless given one (0.5 ms a request, measured); kiln's
// servers never elicit, the one thing the server uses it for, so all share this one.
const validator = new AjvJsonSchemaValidator();

const INSTRUCTIONS =
  'kiln runs code in fresh, locked-down sandboxes. execute_python, execute_javascript and execute_typescript run code you write; ' +
  "the other tools are this project's saved tools, which reach their services with credentials you never see. " +
  'A failed run comes back with isError set and its stderr: read it and try again.';

const META_TOOLS = (limit: number) => [
  {
    name: SEARCH_TOOLS,
    title: 'Search saved tools',
    description: `This project has more saved tools than are listed (${limit}+). Find them by words of their name or description; then run one with ${CALL_TOOL}.`,
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Words to look for; empty lists the newest tools.' },
        limit: { type: 'integer', minimum: 1, maximum: 50, default: 10 },
      },
      required: ['query'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: CALL_TOOL,
    title: 'Run a saved tool',
    description: `Runs a saved tool found with ${SEARCH_TOOLS}: its name, and arguments matching its inputSchema.`,
    inputSchema: {
      type: 'object',
      properties: { name: { type: 'string' }, arguments: { type: 'object', description: "The tool's arguments." } },
      required: ['name'],
      additionalProperties: false,
    },
  },
];

const SearchArgs = z.strictObject({ query: z.string().max(1000), limit: z.number().int().min(1).max(50).default(10) });
const CallArgs = z.strictObject({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).optional() });

/**
 * One MCP server for one HTTP request of one project (stateless: nothing outlives the request).
 * Every tool that runs code goes through the shared executor, marked `via: mcp`.
 */
export function createMcpServer(deps: McpDeps, project: string, ctx: ExecutionContext): Server {
  const server = new Server(
    { name: 'kiln', version: '1' },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS, jsonSchemaValidator: validator },
  );
  const context = (signal: AbortSignal, stream?: RunStream): ExecutionContext => ({
    bytes: ctx.bytes,
    signal: ctx.signal ? AbortSignal.any([ctx.signal, signal]) : signal,
    ...(stream ? { stream } : {}),
  });

  async function runSaved(
    entry: CatalogEntry,
    args: Record<string, unknown>,
    signal: AbortSignal,
    prefix = 'arguments',
    stream?: RunStream,
  ) {
    const input = entry.wrapped ? args.input : args;
    const fields = { input: entry.wrapped ? `${prefix}.input` : prefix };
    try {
      checkInputDepth(input, 'input'); // named as the arguments call it, like every field below
      // pinned to the revision whose schema the catalog showed
      const e = await deps.execute(
        {
          project,
          via: 'mcp',
          mode: 'function',
          target: { kind: 'tool', toolId: entry.tool.id, revisionId: entry.tool.revisionId },
          input: input ?? null,
        },
        context(signal, stream),
      );
      return toolResult(e, 'function', deps.outputLimit);
    } catch (err) {
      throw toMcpError(err, fields, deps.log);
    }
  }

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const { entries } = await catalog(deps.tools, project).catch((err) => Promise.reject(toMcpError(err, {}, deps.log)));
    const saved = entries.length > deps.listLimit ? META_TOOLS(deps.listLimit) : [...entries].reverse().map(definitionOf);
    return { tools: [...builtinDefinitions(deps.maxTimeoutSeconds), ...SESSION_TOOL_DEFINITIONS, ...saved] } as never;
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const token = request.params._meta?.progressToken;
    const progress = token === undefined ? undefined : progressReporter(token, extra.sendNotification as never);
    try {
      return await callTool(request.params, extra, progress);
    } finally {
      progress?.end();
    }
  });

  async function callTool(
    params: { name: string; arguments?: Record<string, unknown> },
    extra: { signal: AbortSignal },
    progress?: RunStream,
  ) {
    const { name } = params;
    const args = params.arguments ?? {};
    const language = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined;
    if (language) {
      try {
        const inSession = sessionArguments(args);
        if (inSession) {
          const answer = await deps.sessions.calls.execute(project, inSession.sessionId, { ...inSession, stream: progress }, 'mcp');
          return sessionCallResult(answer, deps.outputLimit) as never;
        }
        const req = builtinRequest(project, language, args);
        return toolResult(await deps.execute(req, context(extra.signal, progress)), req.mode, deps.outputLimit);
      } catch (err) {
        throw toMcpError(err, BUILTIN_FIELDS, deps.log);
      }
    }
    if (SESSION_TOOLS.has(name)) {
      try {
        return (await callSessionTool({ ...deps.sessions, outputLimit: deps.outputLimit }, project, name, args)) as never;
      } catch (err) {
        throw toMcpError(err, {}, deps.log);
      }
    }
    const tools = await catalog(deps.tools, project).catch((err) => Promise.reject(toMcpError(err, {}, deps.log)));
    if (name === SEARCH_TOOLS) {
      const parsed = SearchArgs.safeParse(args);
      if (!parsed.success) throw toMcpError(parsed.error);
      const found = search(tools.entries, parsed.data.query, parsed.data.limit).map(definitionOf);
      const listed = found.map(({ name, description, inputSchema }) => ({ name, description, inputSchema }));
      return { content: [{ type: 'text', text: JSON.stringify(listed) }], structuredContent: { tools: listed } };
    }
    if (name === CALL_TOOL) {
      const parsed = CallArgs.safeParse(args);
      if (!parsed.success) throw toMcpError(parsed.error);
      const entry = tools.find(parsed.data.name);
      if (!entry) throw toMcpError(unknownTool(parsed.data.name, 'name'));
      return runSaved(entry, parsed.data.arguments ?? {}, extra.signal, 'arguments.arguments', progress);
    }
    const entry = tools.find(name);
    if (!entry) throw toMcpError(unknownTool(name, 'name'));
    return runSaved(entry, args, extra.signal, 'arguments', progress);
  }

  return server;
}

const unknownTool = (name: string, field: string) =>
  fieldError(field, 'unknown_tool', `no tool named ${JSON.stringify(name.slice(0, 200))} in this project`);
