/**
 * What answers a box's calls to its tools (issue 27). The box's `kiln_tools` / `kiln:tools` module
 * POSTs to http://kiln-tools/call/<tool id> through the box's own proxy, which hands the request
 * here (src/egress/proxy.ts); kiln runs the tool as an ordinary execution in a box of its own, with
 * its own bindings and limits, and answers its output, or its error, as JSON. The parent never holds
 * a child's credentials, and what it gets back was redacted of the child's secrets by the executor.
 *
 * Budgets, shared by a whole tree of calls: how many children in all (KILN_TOOLS_MAX_CHILDREN), how
 * deep (KILN_TOOLS_MAX_DEPTH), and the root's wall clock (a child's timeout is cut to what remains);
 * a tool that calls itself or an ancestor is refused.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { KeyOfRequest } from '../access/scopes.js';
import type { ExecutionContext, ExecutionRequest, ToolLineage } from './request.js';
import type { ToolGateway } from '../sandbox/job.js';
import type { ExecutionVia } from '../store/store.js';

/** A child as its parent's answer lists it. */
export interface ChildSummary {
  id: string;
  tool_id: string;
  tool: string;
  duration_ms: number;
  outcome: string;
}

type RunChild = (req: ExecutionRequest, ctx: ExecutionContext) => Promise<{ id: string; result: import('../sandbox/job.js').RunResult }>;

/** An AppError's status, as kiln's table has it (the module raises ToolError for any of them). */
const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  BUSY: 429,
};

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const refuse = (res: ServerResponse, status: number, type: string, message: string) =>
  json(res, status, { ok: false, error: { type, message } });

/** The body, up to `max` bytes; null past it. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.destroy();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A request's path, whether the box sent it in origin form (a tunnel) or absolute form (a proxy). */
function pathOf(req: IncomingMessage): string {
  if (req.url?.startsWith('/')) return req.url;
  try {
    return new URL(req.url ?? '/').pathname;
  } catch {
    return ''; // not a URL at all (a box may send anything): no route matches it
  }
}

/**
 * A session's tools: its box lives across calls, each call with tools of its own, so each call's
 * module calls under `/c/<call id>`, routed to that call's gateway while the call runs.
 */
export function createToolRouter(): ToolGateway & { open(callId: string, gateway: ToolGateway): () => void } {
  const calls = new Map<string, ToolGateway>();
  return {
    handle(req, res) {
      const m = /^\/c\/([A-Za-z0-9_]{1,64})(\/.*)$/.exec(pathOf(req));
      const gateway = m ? calls.get(m[1]!) : undefined;
      if (!gateway)
        return refuse(res, 404, 'call_ended', 'the call these tools were given to has ended: give `tools` to the call that uses them');
      gateway.handle(req, res, m![2]);
    },
    open(callId, gateway) {
      calls.set(callId, gateway);
      return () => void calls.delete(callId);
    },
  };
}

/** The outcome of a child as its parent reads it: its output, or its error with what says why. */
function answerOf(id: string, r: import('../sandbox/job.js').RunResult) {
  if (r.stopReason === 'exited' && r.exitCode === 0 && r.outputStatus === 'valid')
    return { ok: true, output: JSON.parse(r.outputJson ?? 'null') as unknown, execution_id: id };
  const tail = r.stderr.trim().split('\n').slice(-8).join('\n').slice(-2000);
  const type = r.stopReason !== 'exited' ? r.stopReason : r.outputStatus === 'json_serialization_error' ? 'output_not_json' : 'tool_error';
  const message = type === 'tool_error' ? tail.split('\n').at(-1) || `exited ${r.exitCode}` : `stopped: ${r.stopReason}`;
  return { ok: false, error: { type, message, execution_id: id, stop_reason: r.stopReason, exit_code: r.exitCode, stderr: tail } };
}

export function openToolGateway(deps: {
  run: RunChild;
  log: Logger;
  maxBodyBytes: number;
  parent: { id: string; project: string; via: ExecutionVia; key: KeyOfRequest | null; lineage: Omit<ToolLineage, 'parentId'> };
}): ToolGateway & { children: ChildSummary[] } {
  const { parent } = deps;
  const { budget } = parent.lineage;
  const children: ChildSummary[] = [];

  async function call(toolId: string, req: IncomingMessage, res: ServerResponse) {
    const tool = parent.lineage.callable.get(toolId);
    if (!tool) return refuse(res, 403, 'not_allowed', `tool ${toolId} is not one this execution may call`);
    if (parent.lineage.ancestors.includes(toolId))
      return refuse(
        res,
        409,
        'recursion',
        `${tool.name} is already running above this call: a tool may not call itself or a tool that called it`,
      );
    const depth = parent.lineage.depth + 1;
    if (depth > budget.maxDepth)
      return refuse(res, 429, 'budget_depth', `calls nest at most ${budget.maxDepth} deep (KILN_TOOLS_MAX_DEPTH)`);
    const left = budget.deadline - performance.now();
    if (left < 250) return refuse(res, 429, 'budget_time', 'the execution has no time left for another tool call');
    if (budget.children >= budget.maxChildren)
      return refuse(
        res,
        429,
        'budget_children',
        `an execution may make at most ${budget.maxChildren} tool calls in all (KILN_TOOLS_MAX_CHILDREN)`,
      );
    // taken before the body is read: calls made at once cannot all pass the check above
    budget.children++;
    const body = await readBody(req, deps.maxBodyBytes).catch(() => null);
    let input: unknown;
    try {
      if (body === null) throw new RangeError(`the input is larger than ${deps.maxBodyBytes} bytes`);
      input = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch (err) {
      budget.children--; // nothing ran
      return err instanceof RangeError
        ? refuse(res, 413, 'too_large', err.message)
        : refuse(res, 400, 'bad_input', 'the input is not JSON');
    }
    const started = performance.now();
    // the caller gone (its box timed out, was cancelled, ended) before the answer: its child stops too
    const stop = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) stop.abort();
    });
    try {
      const child = await deps.run(
        {
          project: parent.project,
          via: parent.via,
          mode: 'function',
          target: { kind: 'tool', toolId },
          input,
          key: parent.key,
          // the child's own time, cut to what the root has left
          limits: { executionTimeout: Math.max(1, Math.floor(left / 1000)) },
          tools: [...parent.lineage.callable.keys()],
          lineage: {
            parentId: parent.id,
            depth,
            ancestors: [...parent.lineage.ancestors, toolId],
            budget,
            callable: parent.lineage.callable,
          },
        },
        { bytes: body.length, child: depth, cancel: stop.signal },
      );
      const answer = answerOf(child.id, child.result);
      children.push({
        ...{ id: child.id, tool_id: toolId, tool: tool.name, duration_ms: Math.round(performance.now() - started) },
        outcome: answer.ok ? 'ok' : (answer.error?.type ?? 'error'),
      });
      json(res, 200, answer);
    } catch (err) {
      // refused before it ran (its input against its schema, a full pool): the parent's error to handle
      const known = err instanceof AppError;
      if (!known) deps.log.error({ err, parent: parent.id, tool: toolId }, 'a tool call failed in kiln');
      children.push({ id: '', tool_id: toolId, tool: tool.name, duration_ms: Math.round(performance.now() - started), outcome: 'refused' });
      json(res, known ? (STATUS[err.code] ?? 503) : 500, {
        ok: false,
        error: {
          type: known ? err.code.toLowerCase() : 'internal',
          message: known ? err.message : 'internal error',
          ...(known && err.details ? { details: err.details } : {}),
        },
      });
    }
  }

  return {
    children,
    handle(req, res, path = pathOf(req)) {
      const m = /^\/call\/([A-Za-z0-9_]{1,64})$/.exec(path);
      if (req.method !== 'POST' || !m) return refuse(res, 404, 'not_found', 'POST /call/<tool id>');
      call(m[1]!, req, res).catch((err: unknown) => {
        deps.log.error({ err, parent: parent.id }, 'a tool call failed in kiln');
        if (!res.headersSent) refuse(res, 500, 'internal', 'internal error');
      });
    },
  };
}
