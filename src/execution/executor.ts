import { requireCode, requireTool } from '../access/scopes.js';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Admission } from '../sandbox/admission.js';
import type { ExecutionKind, ExecutionRecord, Store } from '../store/store.js';
import type { Job, RunJob, RunResult } from '../sandbox/job.js';
import { redactingOutput, redactSecrets } from './redact.js';
import type { ExecutionContext, ExecutionRequest } from './request.js';
import type { Resolve } from './resolve.js';
import { callableTools } from '../tools/callable-tools.js';
import { type ChildSummary, openToolGateway } from './tool-gateway.js';
import { javascriptModule, pythonModule } from '../tools/tool-modules.js';

/**
 * What an execution produced, as every adapter renders it: never the job itself, which carries
 * the clear values of its secrets.
 */
export interface Execution {
  id: string;
  kind: ExecutionKind;
  language: string;
  tool: { id: string; revisionId: string } | null;
  startedAt: Date;
  result: RunResult;
  /** Set when the executions log could not take it (the database away): for a caller that must keep it. */
  unrecorded?: ExecutionRecord;
  /** The tool calls it made (issue 27), in the order they ended. */
  children?: ChildSummary[];
}

/** The result as the executions log keeps it (and Riza's `details.response` is rendered from). */
export function loggedResult(r: RunResult) {
  return {
    exit_code: r.exitCode,
    stdout: r.stdout,
    stderr: r.stderr,
    duration: r.durationMs,
    stop_reason: r.stopReason,
    stdout_truncated: r.stdoutTruncated,
    stderr_truncated: r.stderrTruncated,
    output_status: r.outputStatus,
    output_json: r.outputJson,
    // what it left under /mnt/req/out: GET /v1/executions/{id}/files/{path}
    ...(r.files?.length ? { files: r.files.map((f) => ({ path: f.path, size: f.data.length })) } : {}),
    ...(r.filesTruncated ? { files_truncated: true } : {}),
  };
}

interface ExecutorDeps {
  resolve: Resolve;
  admission: Admission;
  runJob: RunJob;
  metrics: Metrics;
  store: Store;
  log: Logger;
  /** Tools callable from code (issue 27): the bounds of a tree of calls, and where its children are admitted. */
  tools?: { maxChildren: number; maxDepth: number; maxBodyBytes: number; admission: (depth: number) => Admission };
}

type RunChild = Parameters<typeof openToolGateway>[0]['run'];

/** What a caller with `tools` is given: its module's source, and the gateway that answers its calls. */
export interface ToolsOpened {
  module: string;
  gateway: ReturnType<typeof openToolGateway>;
}

/**
 * The tools of a run (or a session's call): the module its box gets, and the gateway that answers
 * its calls. A root's tree starts here (its tools resolved once, its budget from its own time); a
 * child's comes with it. `base`: where a session call's module calls (`/c/<call id>`).
 */
async function openTools(
  deps: ExecutorDeps,
  execute: RunChild,
  f: {
    id: string;
    req: Pick<ExecutionRequest, 'project' | 'via' | 'key' | 'tools' | 'lineage'>;
    language: string;
    timeoutMs: number;
    tool: Execution['tool'];
    base?: string;
  },
): Promise<ToolsOpened> {
  const { req } = f;
  const bounds = deps.tools;
  if (!bounds) throw new AppError('BAD_REQUEST', 'tools: this kiln runs no tools from code', [{ field: 'tools', reason: 'unsupported' }]);
  const lineage = req.lineage ?? {
    depth: 0,
    ancestors: f.tool ? [f.tool.id] : [],
    callable: await callableTools(deps.store.tools, req.project, req.tools ?? [], req.key),
    budget: { children: 0, maxChildren: bounds.maxChildren, maxDepth: bounds.maxDepth, deadline: performance.now() + f.timeoutMs },
  };
  const gateway = openToolGateway({
    run: execute,
    log: deps.log,
    maxBodyBytes: bounds.maxBodyBytes,
    parent: { id: f.id, project: req.project, via: req.via ?? 'api', key: req.key ?? null, lineage },
  });
  const signatures = [...lineage.callable.values()];
  return { module: f.language === 'python' ? pythonModule(signatures, f.base) : javascriptModule(signatures, f.base), gateway };
}

/**
 * The one execution path every surface calls: resolve → admit → run → metrics → executions log.
 * Recording is part of the answer's path (so the id in the answer is readable at once), but a
 * store that fails never costs the caller its result: the failure is logged and counted.
 */
export function createExecutor(deps: ExecutorDeps) {
  const { metrics } = deps;

  async function run(job: Job, ctx: ExecutionContext): Promise<RunResult> {
    const started = performance.now();
    // a child waits on slots of its own depth, never on those its waiting ancestors hold
    const admission = ctx.child && deps.tools ? deps.tools.admission(ctx.child) : deps.admission;
    metrics.queueWaiting.set(admission.waiting);
    let result: RunResult;
    try {
      result = await admission.submit(
        () => {
          ctx.timer?.mark('admit');
          return deps.runJob(
            ctx.cancel || ctx.timer || ctx.stream ? { ...job, cancel: ctx.cancel, timer: ctx.timer, stream: ctx.stream } : job,
          );
        },
        {
          bytes: ctx.bytes,
          signal: ctx.signal,
          background: ctx.background,
        },
      );
    } catch (error) {
      if (error instanceof AppError) metrics.rejections.inc({ reason: error.details?.[0]?.reason ?? error.code });
      throw error;
    }
    metrics.queueWaiting.set(admission.waiting);
    const outcome =
      result.stopReason !== 'exited'
        ? result.stopReason
        : job.mode === 'function'
          ? result.outputStatus
          : result.exitCode === 0
            ? 'valid'
            : 'error';
    metrics.executions.inc({ language: job.runtime.language, outcome });
    metrics.duration.observe({ language: job.runtime.language }, (performance.now() - started) / 1000);
    return result;
  }

  /**
   * Checks a request as its run would (runtime, limits, tool and revision, input schema, secrets)
   * without running it: an async invocation is refused before it is accepted, not after. Answers
   * the revision a tool target resolved to, which the run is then pinned to.
   */
  /** A key limited to some tools runs those and nothing else, whichever surface it came through. */
  function admitKey(req: ExecutionRequest, tool: Execution['tool']): void {
    const allowed = req.key?.tools;
    if (!allowed) return;
    if (!tool) requireCode({ scopes: new Set(['run']), tools: allowed });
    else requireTool({ scopes: new Set(['run']), tools: allowed }, tool.id);
  }

  async function check(req: ExecutionRequest): Promise<{ tool: Execution['tool'] }> {
    const { tool } = await deps.resolve(req);
    admitKey(req, tool);
    return { tool };
  }

  async function execute(req: ExecutionRequest, ctx: ExecutionContext): Promise<Execution> {
    ctx.timer?.mark('parse');
    const resolved = await deps.resolve(req);
    admitKey(req, resolved.tool);
    ctx.timer?.mark('resolve');
    const { job } = resolved;
    const tools =
      req.tools || req.lineage
        ? await openTools(deps, execute, { id: job.id, req, language: job.runtime.language, timeoutMs: job.timeoutMs, tool: resolved.tool })
        : null;
    if (tools) job.tools = tools;
    const gateway = tools?.gateway ?? null;
    const startedAt = new Date();
    // a stream's output is redacted on its way, as the answer is at the end
    const stream = ctx.stream && redactingOutput(resolved.secretValues, ctx.stream);
    const ran = await run(job, stream ? { ...ctx, stream } : ctx);
    stream?.end();
    const result = redactSecrets(ran, resolved.secretValues);
    const record: ExecutionRecord = {
      id: job.id,
      project: req.project,
      kind: resolved.kind,
      via: req.via ?? 'api',
      language: job.runtime.language,
      exitCode: result.exitCode,
      durationMs: result.durationMs,
      startedAt: startedAt.toISOString(),
      toolId: resolved.tool?.id ?? null,
      revisionId: resolved.tool?.revisionId ?? null,
      key: req.key ? { id: req.key.id, name: req.key.name } : null,
      parentId: req.lineage?.parentId ?? null,
      request: req.tools ? { ...(resolved.logged as object), tools: req.tools } : resolved.logged,
      result: gateway ? { ...loggedResult(result), children: gateway.children } : loggedResult(result),
    };
    try {
      await deps.store.executions.record(record);
      if (result.files?.length) await deps.store.executions.recordFiles(req.project, job.id, result.files);
      ctx.timer?.mark('log');
    } catch (err) {
      metrics.storeErrors.inc({ operation: 'record_execution' });
      deps.log.error({ err: String(err), execution: job.id }, 'could not record an execution; its answer goes out all the same');
      return {
        id: job.id,
        kind: resolved.kind,
        language: job.runtime.language,
        tool: resolved.tool,
        startedAt,
        result,
        unrecorded: record,
        ...(gateway ? { children: gateway.children } : {}),
      };
    }
    const done = { id: job.id, kind: resolved.kind, language: job.runtime.language, tool: resolved.tool, startedAt, result };
    return gateway ? { ...done, children: gateway.children } : done;
  }

  /** A session call's tools (its box is the session's): opened for the call `id`, for `timeoutMs`. */
  const toolsFor = (f: {
    id: string;
    req: Pick<ExecutionRequest, 'project' | 'via' | 'key' | 'tools'>;
    language: string;
    timeoutMs: number;
    base: string;
  }) => openTools(deps, execute, { ...f, tool: null });

  return Object.assign(execute, { check, toolsFor });
}

export type Execute = ReturnType<typeof createExecutor>;
