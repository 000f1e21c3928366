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

/** A call's end, as its answer says it: why it stopped, and its exit code (for the log). */
function stopOf(outcome: CallOutcome): { stopReason: string; exitCode: number } {
  const { end } = outcome;
  if (end.kind === 'box_ended') return { stopReason: 'sandbox_error', exitCode: 137 };
  if (end.kind === 'harness_ended') {
    const stopReason = outcome.stopped ?? (end.exit.oom ? 'out_of_memory' : 'interpreter_ended');
    return { stopReason, exitCode: end.exit.exit_code };
  }
  const code = typeof end.outcome.exit_code === 'number' ? end.outcome.exit_code : end.outcome.error ? 1 : 0;
  return { stopReason: outcome.stopped ?? 'exited', exitCode: code };
}

/** What became of the interpreter, said to the user in the error's words when its state was lost. */
function lostState(outcome: CallOutcome, timeoutSeconds: number): { name: string; value: string; traceback: string } | null {
  const { end } = outcome;
  if (end.kind === 'box_ended')
    return { name: 'SessionEnded', value: 'the session box ended during the call; the session is over', traceback: '' };
  if (end.kind !== 'harness_ended') return null;
  const why =
    outcome.stopped === 'timeout'
      ? `it ran past its ${timeoutSeconds} s timeout and did not stop when interrupted`
      : outcome.stopped === 'output_limit'
        ? 'its output passed the size limit'
        : end.exit.oom
          ? 'it ran out of memory'
          : `it ended (exit status ${end.exit.exit_code})`;
  return {
    name: 'InterpreterRestarted',
    value: `the interpreter was restarted: ${why}; variables and imports are gone (files are kept)`,
    traceback: '',
  };
}

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

/** Which of a request's languages a session of `sessionLanguage` runs (TypeScript and JavaScript share Node). */
function sameRuntime(sessionLanguage: string, language: string): boolean {
  return sessionLanguage === 'python' ? language === 'python' : language !== 'python';
}

/**
 * The cell that runs Riza's function contract in a session's default context: the code defines
 * execute(input), which is called with the input (as JSON text, a string literal in both languages)
 * and its return value displayed raw as application/json: the answer's output.
 */
function functionCell(sessionLanguage: string, code: string, input: unknown): string {
  const json = JSON.stringify(JSON.stringify(input ?? null));
  return sessionLanguage === 'python'
    ? `${code}\ndisplay({"application/json": execute(__import__("json").loads(${json}))}, raw=True)`
    : `${code}\ndisplay({"application/json": await execute(JSON.parse(${json}))});`;
}

/** A call's timeout in seconds: the default when not given, a 400 past the maximum. */
function callTimeout(config: Config, given: number | null | undefined): number {
  const value = given ?? config.KILN_DEFAULT_TIMEOUT_SECONDS;
  if (value > config.KILN_MAX_TIMEOUT_SECONDS)
    throw fieldError('timeout', 'above_maximum', `must be at most ${config.KILN_MAX_TIMEOUT_SECONDS} seconds`);
  return value;
}

/** What every call's answer says of its run. */
function output(outcome: CallOutcome) {
  return {
    stdout: outcome.stdout,
    stderr: outcome.stderr,
    ...(outcome.stdoutTruncated ? { stdout_truncated: true } : {}),
    ...(outcome.stderrTruncated ? { stderr_truncated: true } : {}),
    duration: outcome.durationMs,
    stop_reason: stopOf(outcome).stopReason,
    restarted: outcome.restarted,
  };
}

/** A script as a fresh interpreter process: Python's, or Node's (TypeScript's types erased by Node itself). */
function scriptArgv(language: string, code: string, args: string[]): string[] {
  if (language === 'python') return ['python3', '-c', code, ...args];
  const inputType = language === 'typescript' ? 'module-typescript' : 'module';
  return ['node', `--input-type=${inputType}`, '--disable-warning=ExperimentalWarning', '-e', code, ...args];
}

/** A session call as the executions log keeps it (kind `session`, with the session's id). */
function loggedCall(
  record: LiveSession['record'],
  call: { id: string; op: Record<string, unknown>; by: Caller; startedAt: string; outcome: CallOutcome; body: unknown },
): ExecutionRecord {
  const { op } = call;
  return {
    id: call.id,
    project: record.project,
    kind: 'session',
    via: call.by.via,
    language: record.language,
    exitCode: stopOf(call.outcome).exitCode,
    durationMs: call.outcome.durationMs,
    startedAt: call.startedAt,
    toolId: null,
    revisionId: null,
    sessionId: record.id,
    // the caller's key; for a call made with the session's own tokens (E2B's envd), the key that made it
    key: call.by.key ? { id: call.by.key.id, name: call.by.key.name } : creatorOf(record),
    // as every request is logged: env names, never values
    request: { session_id: record.id, ...op, ...(op.env ? { env: Object.keys(op.env as object) } : {}) },
    result: call.body,
  };
}

/** A session's contexts beyond its default one: made, and ended (their state with them). */
function contextCalls(sessions: Sessions) {
  return {
    /** A new context: state of its own, beside the default one (`id`: a fresh one in place of one deleted). */
    async createContext(project: string, sessionId: string, id = newId('ctx')): Promise<{ id: string }> {
      const session = await sessions.use(project, sessionId);
      const outcome = await session.box.call({ op: 'context_create', context: id }, 30_000);
      if (outcome.end.kind !== 'answered' || outcome.end.outcome.ok !== true)
        throw new AppError('SANDBOX_UNAVAILABLE', `session ${sessionId} could not make a context; retry`, [{ reason: 'context_failed' }]);
      session.contexts.add(id);
      sessions.touch(session);
      return { id };
    },

    /** Ends a context of the session (not its default one): its state goes. */
    async deleteContext(project: string, sessionId: string, contextId: string): Promise<void> {
      const session = await sessions.use(project, sessionId);
      if (!session.contexts.has(contextId))
        throw new AppError('NOT_FOUND', `context ${contextId} not found in session ${sessionId}`, [
          { field: 'context_id', reason: 'not_found' },
        ]);
      const outcome = await session.box.call({ op: 'context_delete', context: contextId }, 30_000);
      session.contexts.delete(contextId);
      sessions.touch(session);
      if (outcome.end.kind !== 'answered')
        throw new AppError('SANDBOX_UNAVAILABLE', `session ${sessionId}: its interpreter restarted; every context is gone`, [
          { reason: 'context_failed' },
        ]);
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

  return {
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
      const answer = await this.execute(
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
      return this.command(project, sessionId, { cmd: argv, stdin: call.stdin, env: call.env, timeoutSeconds: call.timeoutSeconds }, by);
    },

    ...contextCalls(sessions),
  };
}

export type SessionCalls = ReturnType<typeof createSessionCalls>;
