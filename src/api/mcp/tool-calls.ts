import { keyOfRequest, type Principal, requireCode, requireScope } from '../../access/scopes.js';
/**
 * A `tools/call`, whichever tool it names: a built-in (in a session or a fresh box), a session
 * tool, search_tools and call_tool, or a saved tool. Each runs now through the one executor
 * (`via: mcp`, its output reported as progress when asked), or — a call with a `task` — is
 * accepted as a task on kiln's invocations (./tasks.ts), which sessions and search cannot be.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Execute } from '../../execution/executor.js';
import type { ExecutionStatuses } from '../../invocations/execution-status.js';
import type { Invocations } from '../../invocations/invocations.js';
import type { Tools } from '../../tools/tools.js';
import { fieldError } from '../../errors.js';
import type { ExecutionContext, ExecutionRequest } from '../../execution/request.js';
import type { RunStream } from '../../sandbox/job.js';
import { checkInputDepth } from '../../tools/input-depth.js';
import { BUILTIN_FIELDS, BUILTINS, builtinRequest, sessionArguments } from './builtins.js';
import { CALL_TOOL, type CatalogEntry, catalog, definitionOf, SEARCH_TOOLS, search } from './catalog.js';
import { EXECUTE_WITH_TOOLS, executeWithToolsRequest } from './code-with-tools.js';
import { toMcpError } from './errors.js';
import { toolResult } from './results.js';
import { callSessionTool, SESSION_TOOLS, type SessionToolDeps, sessionCallResult } from './session-tools.js';
import { createTask } from './tasks.js';

/** What the MCP server's tools reach: the executor, tools, sessions, invocations (tasks), and the bounds. */
export interface McpDeps {
  tools: Tools;
  execute: Execute;
  /** Past this many saved tools, the listing offers search_tools and call_tool instead of each. */
  listLimit: number;
  /** Bytes of stdout, of stderr and of a return value a model is given (head and tail). */
  outputLimit: number;
  maxTimeoutSeconds: number;
  /** Tool calls one run of execute_with_tools may make (KILN_TOOLS_MAX_CHILDREN). */
  maxToolCalls: number;
  /** Sessions, their calls and files: the session tools and `session_id` on the built-ins. */
  sessions: Omit<SessionToolDeps, 'outputLimit'>;
  /** Tasks: a tools/call with a `task` is an async invocation (./tasks.ts). */
  invocations: Invocations;
  statuses: ExecutionStatuses;
  log: Logger;
}

const SearchArgs = z.strictObject({ query: z.string().max(1000), limit: z.number().int().min(1).max(50).default(10) });
const CallArgs = z.strictObject({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).optional() });

/** How a call is made: its client's abort, its progress listener, and whether it is to be a task. */
export interface How {
  signal: AbortSignal;
  progress?: RunStream;
  task: boolean;
}

interface Call {
  deps: McpDeps;
  project: string;
  ctx: ExecutionContext;
  /** The caller's key: what it may run (a key limited to some tools sees and runs those only). */
  principal: Principal;
}

const unknownTool = (name: string, field: string) =>
  fieldError(field, 'unknown_tool', `no tool named ${JSON.stringify(name.slice(0, 200))} in this project`);
const notATask = (what: string) => toMcpError(fieldError('task', 'not_a_task', `${what} answers at once: call it without a task`));

/** The execution context of a call run now: the request's, its client's abort, its progress listener. */
function context(ctx: ExecutionContext, how: How): ExecutionContext {
  return {
    bytes: ctx.bytes,
    signal: ctx.signal ? AbortSignal.any([ctx.signal, how.signal]) : how.signal,
    ...(how.progress ? { stream: how.progress } : {}),
  };
}

/** Runs `req` now, or accepts it as a task. */
async function runOrAccept(call: Call, asked: ExecutionRequest, how: How) {
  const req = { ...asked, key: keyOfRequest(call.principal) };
  if (how.task) return createTask(call.deps.invocations, req, call.ctx.bytes);
  return toolResult(await call.deps.execute(req, context(call.ctx, how)), req.mode, call.deps.outputLimit);
}

/** A saved tool's call, pinned to the revision whose schema the catalog showed. */
async function callSaved(call: Call, entry: CatalogEntry, args: Record<string, unknown>, how: How, prefix = 'arguments') {
  const input = entry.wrapped ? args.input : args;
  const fields = { input: entry.wrapped ? `${prefix}.input` : prefix };
  try {
    checkInputDepth(input, 'input'); // named as the arguments call it, like every field below
    const target = { kind: 'tool' as const, toolId: entry.tool.id, revisionId: entry.tool.revisionId };
    return await runOrAccept(call, { project: call.project, via: 'mcp', mode: 'function', target, input: input ?? null }, how);
  } catch (err) {
    throw toMcpError(err, fields, call.deps.log);
  }
}

async function callBuiltin(call: Call, language: (typeof BUILTINS)[string], args: Record<string, unknown>, how: How) {
  const { deps, project } = call;
  try {
    const inSession = sessionArguments(args);
    if (inSession && how.task) throw notATask('a call in a session');
    if (inSession) {
      const answer = await deps.sessions.calls.execute(
        project,
        inSession.sessionId,
        { ...inSession, stream: how.progress },
        { via: 'mcp', key: keyOfRequest(call.principal) },
      );
      return sessionCallResult(answer, deps.outputLimit);
    }
    return await runOrAccept(call, builtinRequest(project, language, args), how);
  } catch (err) {
    throw toMcpError(err, BUILTIN_FIELDS, deps.log);
  }
}

export async function callTool(call: Call, params: { name: string; arguments?: Record<string, unknown> }, how: How) {
  const { deps, project } = call;
  const { name } = params;
  const args = params.arguments ?? {};
  const language = Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined;
  const mayRunCode = () => {
    try {
      requireCode(call.principal);
    } catch (err) {
      throw toMcpError(err, {}, deps.log);
    }
  };
  if (language) {
    mayRunCode();
    return callBuiltin(call, language, args, how);
  }
  if (name === EXECUTE_WITH_TOOLS) {
    mayRunCode();
    try {
      return await runOrAccept(call, executeWithToolsRequest(project, args), how);
    } catch (err) {
      throw toMcpError(err, BUILTIN_FIELDS, deps.log);
    }
  }
  if (SESSION_TOOLS.has(name)) {
    mayRunCode();
    if (how.task) throw notATask(name);
    try {
      return await callSessionTool({ ...deps.sessions, outputLimit: deps.outputLimit }, project, name, args, keyOfRequest(call.principal));
    } catch (err) {
      throw toMcpError(err, {}, deps.log);
    }
  }
  try {
    requireScope(call.principal, 'run');
  } catch (err) {
    throw toMcpError(err, {}, deps.log);
  }
  const tools = await catalog(deps.tools, project, call.principal.tools).catch((err) => Promise.reject(toMcpError(err, {}, deps.log)));
  if (name === SEARCH_TOOLS) {
    if (how.task) throw notATask(name);
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
    return callSaved(call, entry, parsed.data.arguments ?? {}, how, 'arguments.arguments');
  }
  const entry = tools.find(name);
  if (!entry) throw toMcpError(unknownTool(name, 'name'));
  return callSaved(call, entry, args, how);
}
