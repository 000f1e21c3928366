/**
 * What a session call's answer and its entry in the executions log say of it: why it stopped, its
 * output, what became of the interpreter, and the cells and argv that carry Riza's contracts
 * (execute-function, execute) into a session.
 */
import type { Config } from '../config.js';
import { fieldError } from '../errors.js';
import type { Caller } from '../execution/request.js';
import type { ExecutionRecord } from '../store/executions/records.js';
import type { CallOutcome } from './session-box.js';
import { creatorOf } from './session-open.js';
import type { LiveSession } from './sessions.js';

/** A call's end, as its answer says it: why it stopped, and its exit code (for the log). */
export function stopOf(outcome: CallOutcome): { stopReason: string; exitCode: number } {
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
export function lostState(outcome: CallOutcome, timeoutSeconds: number): { name: string; value: string; traceback: string } | null {
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

/** Which of a request's languages a session of `sessionLanguage` runs (TypeScript and JavaScript share Node). */
export function sameRuntime(sessionLanguage: string, language: string): boolean {
  return sessionLanguage === 'python' ? language === 'python' : language !== 'python';
}

/**
 * The cell that runs Riza's function contract in a session's default context: the code defines
 * execute(input), which is called with the input (as JSON text, a string literal in both languages)
 * and its return value displayed raw as application/json: the answer's output.
 */
export function functionCell(sessionLanguage: string, code: string, input: unknown): string {
  const json = JSON.stringify(JSON.stringify(input ?? null));
  return sessionLanguage === 'python'
    ? `${code}\ndisplay({"application/json": execute(__import__("json").loads(${json}))}, raw=True)`
    : `${code}\ndisplay({"application/json": await execute(JSON.parse(${json}))});`;
}

/** A call's timeout in seconds: the default when not given, a 400 past the maximum. */
export function callTimeout(config: Config, given: number | null | undefined): number {
  const value = given ?? config.KILN_DEFAULT_TIMEOUT_SECONDS;
  if (value > config.KILN_MAX_TIMEOUT_SECONDS)
    throw fieldError('timeout', 'above_maximum', `must be at most ${config.KILN_MAX_TIMEOUT_SECONDS} seconds`);
  return value;
}

/** What every call's answer says of its run. */
export function output(outcome: CallOutcome) {
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
export function scriptArgv(language: string, code: string, args: string[]): string[] {
  if (language === 'python') return ['python3', '-c', code, ...args];
  const inputType = language === 'typescript' ? 'module-typescript' : 'module';
  return ['node', `--input-type=${inputType}`, '--disable-warning=ExperimentalWarning', '-e', code, ...args];
}

/** A session call as the executions log keeps it (kind `session`, with the session's id). */
export function loggedCall(
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
