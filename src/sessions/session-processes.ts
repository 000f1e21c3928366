/**
 * A session's processes (E2B's commands): started beside its calls in its box (./box-processes.ts),
 * each with its pid, an optional tag and the config it was started with; followed by any number of
 * clients at once (from the moment each connects, as E2B's envd does: output is not replayed),
 * written to, signalled, listed; killed at their deadline when they have one. Each is an execution
 * in the log once it ends (kind `session`, with the session's id), its output capped and the
 * session's secrets taken out of everything a client or the log sees.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { redactingOutput } from '../execution/redact.js';
import { newId } from '../ids.js';
import { CappedBuffer } from '../sandbox/frame-decoder.js';
import type { Caller } from '../execution/request.js';
import type { ExecutionRecord, ExecutionStore } from '../store/executions/records.js';
import type { BoxProcess, ProcessEnd } from './box-processes.js';
import { creatorOf } from './session-open.js';
import type { LiveSession, Sessions } from './sessions.js';

/** What a process was started with, as it is shown back (E2B's ProcessConfig). */
export interface ProcessConfig {
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

export type ProcessEvent = { kind: 'stdout' | 'stderr'; data: Buffer } | { kind: 'end'; end: ProcessEnd & { timedOut: boolean } };

export interface SessionProcess {
  pid: number;
  tag: string | null;
  config: ProcessConfig;
  /** Follows its events from now on; the returned function stops following. */
  follow(listener: (e: ProcessEvent) => void): () => void;
  /** Stops a listener following (one given to start, say). */
  unfollow(listener: (e: ProcessEvent) => void): void;
  ended: Promise<ProcessEnd & { timedOut: boolean }>;
}

interface Running extends SessionProcess {
  proc: BoxProcess;
  listeners: Set<(e: ProcessEvent) => void>;
}

export type ProcessSelector = { pid: number } | { tag: string };

/** An ended process as the executions log keeps it (kind `session`, with the session's id; env names, never values). */
function processRecord(p: {
  id: string;
  session: LiveSession['record'];
  by: Caller;
  config: ProcessConfig;
  tag: string | null;
  startedAt: Date;
  durationMs: number;
  end: ProcessEnd & { timedOut: boolean };
  caps: { stdout: CappedBuffer; stderr: CappedBuffer };
}): ExecutionRecord {
  const { end, caps, config } = p;
  return {
    id: p.id,
    project: p.session.project,
    kind: 'session',
    via: p.by.via,
    language: p.session.language,
    exitCode: end.exitCode,
    durationMs: p.durationMs,
    startedAt: p.startedAt.toISOString(),
    toolId: null,
    revisionId: null,
    sessionId: p.session.id,
    key: p.by.key ? { id: p.by.key.id, name: p.by.key.name } : creatorOf(p.session),
    request: { session_id: p.session.id, op: 'process', cmd: config.cmd, args: config.args, env: Object.keys(config.envs), tag: p.tag },
    result: {
      exit_code: end.exitCode,
      stdout: caps.stdout.text(),
      stderr: caps.stderr.text(),
      ...(caps.stdout.truncated ? { stdout_truncated: true } : {}),
      ...(caps.stderr.truncated ? { stderr_truncated: true } : {}),
      stop_reason: end.timedOut ? 'timeout' : end.lost ? 'sandbox_error' : end.signal ? 'signalled' : 'exited',
    },
  };
}

const notFound = (what: string) => new AppError('NOT_FOUND', `process ${what} not found`, [{ field: 'process', reason: 'not_found' }]);

export function createSessionProcesses(deps: { sessions: Sessions; executions: ExecutionStore; config: Config; log: Logger }) {
  const { sessions } = deps;
  /** Each live session's running processes, by pid (gone with the session's object). */
  const tables = new WeakMap<LiveSession, Map<number, Running>>();
  const tableOf = (session: LiveSession) => tables.get(session) ?? tables.set(session, new Map()).get(session)!;

  async function find(project: string, sessionId: string, selector: ProcessSelector): Promise<Running> {
    const table = tableOf(await sessions.use(project, sessionId));
    const found = 'pid' in selector ? table.get(selector.pid) : [...table.values()].find((p) => p.tag !== null && p.tag === selector.tag);
    if (!found) throw notFound('pid' in selector ? String(selector.pid) : `tagged ${selector.tag}`);
    return found;
  }

  return {
    /**
     * Starts a process in the session's box; `timeoutMs` (0 or null: none) kills it at its deadline.
     * `config` is what it is shown as; `argv`, `env`, `cwd` what the box runs.
     */
    async start(
      project: string,
      sessionId: string,
      spec: { argv: string[]; env: Record<string, string>; cwd?: string; stdin: boolean; tag?: string | null; timeoutMs?: number | null },
      config: ProcessConfig,
      by: Caller,
      /** Follows it from its first byte (its output may come with the news that it started). */
      listener?: (e: ProcessEvent) => void,
    ): Promise<SessionProcess> {
      const session = await sessions.use(project, sessionId);
      const table = tableOf(session);
      const id = newId('exec');
      const startedAt = new Date();
      const caps = {
        stdout: new CappedBuffer(deps.config.KILN_OUTPUT_LIMIT_BYTES),
        stderr: new CappedBuffer(deps.config.KILN_OUTPUT_LIMIT_BYTES),
      };
      const listeners = new Set<(e: ProcessEvent) => void>(listener ? [listener] : []);
      const emit = (e: ProcessEvent) => {
        for (const listener of listeners)
          try {
            listener(e);
          } catch (err) {
            // one follower's failure is its own: the others, and the process's end, go on
            listeners.delete(listener);
            deps.log.warn({ err: String(err), session: sessionId }, 'a process follower failed');
          }
      };
      // what clients and the log see has the session's secrets taken out, even printed in pieces
      const out = redactingOutput(session.secretValues, {
        started() {},
        output(stream, data) {
          caps[stream].append(data);
          emit({ kind: stream, data });
        },
      });
      const proc = await session.box
        .spawn({ argv: spec.argv, env: spec.env, ...(spec.cwd ? { cwd: spec.cwd } : {}), stdin: spec.stdin }, (stream, data) =>
          out.output(stream, data),
        )
        .catch((error: Error) => {
          throw new AppError('BAD_REQUEST', `the process could not start: ${error.message}`, [{ field: 'process', reason: 'not_started' }]);
        });
      // a running process keeps its session from idling out (its lifetime still bounds it)
      session.busy++;
      let timedOut = false;
      const kill = () => {
        timedOut = true;
        proc.signal(9);
      };
      const timer = spec.timeoutMs ? setTimeout(kill, spec.timeoutMs) : undefined;
      const ended = proc.ended.then((end) => {
        clearTimeout(timer);
        session.busy--;
        out.end();
        table.delete(proc.pid);
        const full = { ...end, timedOut };
        emit({ kind: 'end', end: full });
        listeners.clear();
        // the store's writes after the end has gone out to its followers, not before
        const durationMs = Date.now() - startedAt.getTime();
        setImmediate(() => logEnd(full, durationMs));
        return full;
      });
      const logEnd = (end: ProcessEnd & { timedOut: boolean }, durationMs: number) => {
        sessions.touch(session);
        const record = processRecord({ id, session: session.record, by, config, tag: spec.tag ?? null, startedAt, durationMs, end, caps });
        void deps.executions
          .record(record)
          .catch((err) => deps.log.error({ err: String(err), execution: id }, 'could not record a session process'));
      };
      const running: Running = {
        pid: proc.pid,
        tag: spec.tag ?? null,
        config,
        proc,
        listeners,
        ended,
        follow(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
        unfollow: (listener) => void listeners.delete(listener),
      };
      table.set(proc.pid, running);
      setImmediate(() => sessions.touch(session)); // (activity, written once it runs)
      return running;
    },

    /** A running process of the session, by pid or tag; 404 when there is none. */
    find,

    /** The session's running processes. */
    async list(project: string, sessionId: string): Promise<SessionProcess[]> {
      return [...tableOf(await sessions.use(project, sessionId)).values()];
    },

    async input(project: string, sessionId: string, selector: ProcessSelector, data: Buffer | null): Promise<void> {
      const running = await find(project, sessionId, selector);
      if (data === null) running.proc.closeStdin();
      else running.proc.write(data);
    },

    async signal(project: string, sessionId: string, selector: ProcessSelector, signal: number): Promise<void> {
      (await find(project, sessionId, selector)).proc.signal(signal);
    },
  };
}

export type SessionProcesses = ReturnType<typeof createSessionProcesses>;
