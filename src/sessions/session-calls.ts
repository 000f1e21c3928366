/**
 * The calls made in a session: code in a persistent context, a command (a fresh process sharing
 * the session's files), a new context. Each is an execution in the log (kind `session`, with the
 * session's id), and its answer has the session's secrets taken out, as every answer does.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { AppError, fieldError } from '../errors.js';
import { redactingOutput, redactJson } from '../execution/redact.js';
import type { RunStream } from '../sandbox/job.js';
import { newId } from '../ids.js';
import type { Execute, ToolsOpened } from '../execution/executor.js';
import type { Caller } from '../execution/request.js';
import type { ChildSummary } from '../execution/tool-gateway.js';
import type { ExecutionRecord, ExecutionStore } from '../store/executions/records.js';
import type { CallOutcome } from './session-box.js';
import { creatorOf } from './session-open.js';
import type { LiveSession, Sessions } from './sessions.js';
import { callTimeout, functionCell, loggedCall, lostState, output, sameRuntime, scriptArgv, stopOf } from './session-call-answers.js';
import { contextCalls } from './session-contexts.js';

export interface ExecuteCall {
  code: string;
  /** Saved tools the code may call (`kiln_tools`, `kiln:tools`): for this call only. */
  tools?: string[] | 'all';
  contextId?: string | null;
  timeoutSeconds?: number | null;
  /** A streamed call's listener (src/api/sse.ts): its output as it comes, secrets taken out. */
  stream?: RunStream;
}

export interface CommandCall {
  cmd: string | string[];
  stdin?: string;
  env?: Record<string, string>;
  cwd?: string;
  timeoutSeconds?: number | null;
  stream?: RunStream;
}

/** Riza's execute-function and execute, with `session_id`: carried into a session's calls. */
function rizaCalls(
  sessions: Sessions,
  calls: {
    execute(project: string, sessionId: string, call: ExecuteCall, by?: Caller): Promise<Record<string, unknown>>;
    command(project: string, sessionId: string, call: CommandCall, by?: Caller): Promise<Record<string, unknown>>;
  },
) {
  return {
    /**
     * Riza's execute-function in a session (`session_id`): the code and its execute(input) run in
     * the default context, so what it defines stays for the next call. Answers the output as JSON
     * text (null unless the return value could be carried as JSON) and its status, with the call.
     */
    async callFunction(
      project: string,
      sessionId: string,
      call: { language: string; code: string; input: unknown; timeoutSeconds?: number | null; tools?: string[] | 'all' },
      by: Caller = { via: 'api' },
    ) {
      const session = await sessions.use(project, sessionId);
      if (!sameRuntime(session.record.language, call.language))
        throw fieldError('language', 'wrong_language', `session ${sessionId} runs ${session.record.language}, not ${call.language}`);
      const answer = await calls.execute(
        project,
        sessionId,
        {
          code: functionCell(session.record.language, call.code, call.input),
          timeoutSeconds: call.timeoutSeconds,
          ...(call.tools ? { tools: call.tools } : {}),
        },
        by,
      );
      const results = answer.results as Record<string, unknown>[];
      const shown = results.find((r) => Object.hasOwn(r, 'application/json'));
      const outputStatus = answer.error ? 'error' : shown ? 'valid' : 'json_serialization_error';
      return { answer, outputJson: shown && !answer.error ? JSON.stringify(shown['application/json']) : null, outputStatus };
    },

    /** Riza's execute (a script) in a session (`session_id`): a fresh interpreter process in its box, sharing its files. */
    async callScript(
      project: string,
      sessionId: string,
      call: { language: string; code: string; args: string[]; stdin: string; env: Record<string, string>; timeoutSeconds?: number | null },
      by: Caller = { via: 'api' },
    ) {
      const session = await sessions.use(project, sessionId);
      if (!sameRuntime(session.record.language, call.language))
        throw fieldError('language', 'wrong_language', `session ${sessionId} runs ${session.record.language}, not ${call.language}`);
      const argv = scriptArgv(call.language, call.code, call.args);
      return calls.command(project, sessionId, { cmd: argv, stdin: call.stdin, env: call.env, timeoutSeconds: call.timeoutSeconds }, by);
    },
  };
}

export function createSessionCalls(deps: {
  sessions: Sessions;
  executions: ExecutionStore;
  config: Config;
  log: Logger;
  /** A call's tools (`tools` on an execute): the executor's, with the call's box the session's. */
  toolsFor?: Execute['toolsFor'];
}) {
  const { sessions, config } = deps;

  const timeoutOf = (given: number | null | undefined) => callTimeout(config, given);

  /** Runs one call in a live session, logs it, and answers it (redacted). */
  async function run(
    session: LiveSession,
    op: Record<string, unknown>,
    timeoutSeconds: number,
    by: Caller,
    answer: (outcome: CallOutcome, id: string) => Record<string, unknown>,
    stream?: RunStream,
    /** A call with tools: its id (its module's route has it) and the children it makes. */
    withTools?: { id: string; children: ChildSummary[] },
  ): Promise<Record<string, unknown>> {
    const id = withTools?.id ?? newId('exec');
    const startedAt = new Date().toISOString();
    const out = stream && redactingOutput(session.secretValues, stream);
    session.busy++;
    let outcome: CallOutcome;
    try {
      out?.started(id);
      outcome = await session.box.call(op, timeoutSeconds * 1000, out);
      out?.end();
    } finally {
      session.busy--;
      sessions.touch(session);
    }
    // a fresh harness knows only the default context
    if (outcome.restarted || outcome.end.kind === 'harness_ended') session.contexts.clear();
    // a box resumed from a checkpoint has fresh interpreters: the first call after says so, both ways
    const restored = session.restoredUnsaid;
    session.restoredUnsaid = false;
    const said = answer(restored ? { ...outcome, restarted: true } : outcome, id);
    const children = withTools ? { children: withTools.children } : {};
    const body = redactJson({ ...said, restored, ...children }, session.secretValues) as Record<string, unknown>;
    const logged = loggedCall(session.record, { id, op, by, startedAt, outcome, body });
    await deps.executions.record(logged).catch((err) => {
      deps.log.error({ err: String(err), execution: id }, 'could not record a session call; its answer goes out all the same');
    });
    return body;
  }

  /** An execute in a session's context (its tools, if it was given any, opened for it). */
  async function executeIn(
    session: LiveSession,
    sessionId: string,
    call: ExecuteCall,
    by: Caller,
    tools: (ToolsOpened & { id: string }) | null,
  ): Promise<Record<string, unknown>> {
    const context = call.contextId ?? 'default';
    if (context !== 'default' && !session.contexts.has(context))
      throw new AppError('NOT_FOUND', `context ${context} not found in session ${sessionId}`, [
        { field: 'context_id', reason: 'not_found' },
      ]);
    const timeout = timeoutOf(call.timeoutSeconds);
    return run(
      session,
      { op: 'execute', context, code: call.code, ...(tools ? { tools_module: tools.module } : {}) },
      timeout,
      by,
      (outcome, id) => {
        const answered = outcome.end.kind === 'answered' ? outcome.end.outcome : null;
        return {
          id,
          session_id: sessionId,
          context_id: context,
          ...output(outcome),
          results: Array.isArray(answered?.results) ? answered.results : [],
          error: lostState(outcome, timeout) ?? answered?.error ?? null,
        };
      },
      call.stream,
      tools ? { id: tools.id, children: tools.gateway.children } : undefined,
    );
  }

  /** A call's tools: resolved, given a gateway for the call's id, routed to it while the call runs. */
  async function openCallTools(session: LiveSession, given: string[] | 'all', by: Caller, timeoutSeconds: number) {
    if (!deps.toolsFor) throw fieldError('tools', 'unsupported', 'this kiln runs no tools from code');
    const id = newId('exec');
    const opened = await deps.toolsFor({
      id,
      req: { project: session.record.project, via: by.via, key: by.key ?? creatorOf(session.record), tools: given },
      language: session.record.language,
      timeoutMs: timeoutSeconds * 1000,
      base: `/c/${id}`,
    });
    return { ...opened, id, close: session.tools.open(id, opened.gateway) };
  }

  const calls = {
    /** Code in a context of the session: its state (variables, imports) is kept for the next call. */
    async execute(project: string, sessionId: string, call: ExecuteCall, by: Caller = { via: 'api' }): Promise<Record<string, unknown>> {
      const session = await sessions.use(project, sessionId);
      const tools = call.tools ? await openCallTools(session, call.tools, by, timeoutOf(call.timeoutSeconds)) : null;
      try {
        return await executeIn(session, sessionId, call, by, tools);
      } finally {
        tools?.close();
      }
    },

    /** A fresh process in the session's box: it shares the session's files, not an interpreter's state. */
    async command(project: string, sessionId: string, call: CommandCall, by: Caller = { via: 'api' }): Promise<Record<string, unknown>> {
      const session = await sessions.use(project, sessionId);
      const timeout = timeoutOf(call.timeoutSeconds);
      const op = { op: 'command', cmd: call.cmd, stdin: call.stdin ?? '', env: call.env ?? {}, ...(call.cwd ? { cwd: call.cwd } : {}) };
      return run(
        session,
        op,
        timeout,
        by,
        (outcome, id) => {
          const { exitCode } = stopOf(outcome);
          const lost = lostState(outcome, timeout);
          return {
            id,
            session_id: sessionId,
            exit_code: exitCode,
            ...output(outcome),
            ...(lost ? { error: lost } : {}),
          };
        },
        call.stream,
      );
    },

    ...contextCalls(sessions),
  };
  return { ...calls, ...rizaCalls(sessions, calls) };
}

export type SessionCalls = ReturnType<typeof createSessionCalls>;
