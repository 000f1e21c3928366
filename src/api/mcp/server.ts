import { allows, type Principal } from '../../access/scopes.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ExecutionContext } from '../../execution/request.js';
import { builtinDefinitions } from './builtins.js';
import { executeWithToolsDefinition } from './code-with-tools.js';
import { SESSION_TOOL_DEFINITIONS } from './session-tools.js';
import { CALL_TOOL, catalog, definitionOf, SEARCH_TOOLS } from './catalog.js';
import { toMcpError } from './errors.js';
import { progressReporter } from './progress.js';
import { invocationTasks } from './tasks.js';
import { callTool, type McpDeps } from './tool-calls.js';

export type { McpDeps };

// The SDK makes a new ajv for each Server unless given one (0.5 ms a request, measured); kiln's
// servers never elicit, the one thing the server uses it for, so all share this one.
const validator = new AjvJsonSchemaValidator();

const INSTRUCTIONS =
  'kiln runs code in fresh, locked-down sandboxes. execute_python, execute_javascript and execute_typescript run code you write; ' +
  'execute_with_tools runs code that calls the saved tools as functions (loops and joins in code, not in this conversation); ' +
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

/**
 * One MCP server for one HTTP request of one project (stateless: nothing outlives the request).
 * Every tool that runs code goes through the shared executor, marked `via: mcp`.
 */
export function createMcpServer(deps: McpDeps, principal: Principal, ctx: ExecutionContext): Server {
  const { project } = principal;
  const server = new Server(
    { name: 'kiln', version: '1' },
    {
      capabilities: { tools: { listChanged: false }, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
      instructions: INSTRUCTIONS,
      jsonSchemaValidator: validator,
      taskStore: invocationTasks({ ...deps, listInvocations: deps.invocations.list }, project),
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const { entries } = await catalog(deps.tools, project, principal.tools).catch((err) => Promise.reject(toMcpError(err, {}, deps.log)));
    const saved = entries.length > deps.listLimit ? META_TOOLS(deps.listLimit) : [...entries].reverse().map(definitionOf);
    // what runs code may run as a task (./tasks.ts); a session's tools and search_tools answer at once
    const asTask = <T extends { name: string }>(t: T) => (t.name === SEARCH_TOOLS ? t : { ...t, execution: { taskSupport: 'optional' } });
    // code of its own only for a key that may run it; a key limited to some tools sees those alone
    const code = allows(principal, 'run') && principal.tools === null;
    const withTools = executeWithToolsDefinition(
      entries.map((e) => e.tool),
      { maxTimeout: deps.maxTimeoutSeconds, maxCalls: deps.maxToolCalls },
      SEARCH_TOOLS,
    );
    const own = code ? [...builtinDefinitions(deps.maxTimeoutSeconds).map(asTask), asTask(withTools), ...SESSION_TOOL_DEFINITIONS] : [];
    return { tools: [...own, ...saved.map(asTask)] } as never;
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const token = request.params._meta?.progressToken;
    const progress = token === undefined ? undefined : progressReporter(token, extra.sendNotification as never);
    try {
      return (await callTool({ deps, project, ctx, principal }, request.params, {
        signal: extra.signal,
        progress,
        task: request.params.task !== undefined,
      })) as never;
    } finally {
      progress?.end();
    }
  });

  return server;
}
