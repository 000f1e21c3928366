/**
 * The events of the runs a client may watch (issue 24): a streamed execute's, and every async
 * invocation's. Each run's events — `start`, `stdout` and `stderr` chunks (UTF-8 whole), a
 * session execute's `display` bundles, then `result` or `error` — are numbered from 1 and kept while it runs and KEEP_MS after, so that a
 * client that lost its stream reconnects (`GET /v1/executions/{id}/events`, `Last-Event-ID`) and
 * misses nothing. Bounded: a run's output is within the output caps, and past MAX_BYTES in all the
 * oldest ended runs are let go first (their output stays in the executions log).
 */
import { StringDecoder } from 'node:string_decoder';
import type { RunStream } from '../sandbox/job.js';

export interface RunEvent {
  id: number;
  event: 'start' | 'stdout' | 'stderr' | 'display' | 'result' | 'error';
  data: string;
}

const KEEP_MS = 60_000;
const MAX_BYTES = 64 * 1024 * 1024;

interface RunLog {
  /** Whose run it is: only that project's keys follow it. */
  project: string;
  events: RunEvent[];
  bytes: number;
  ended: boolean;
  /** Subscribers waiting for the next event. */
  wake: Set<() => void>;
}

/** A run being recorded: its stream (what the runner feeds) and its end. */
export interface RunRecorder extends RunStream {
  /** The answer's JSON, the last event; null: it ended with no answer of its own (an async run's is its status). */
  end(json: string | null): void;
  /** kiln failed after the start: the last event says so. */
  fail(json: string): void;
}

export function createRunEvents() {
  const runs = new Map<string, RunLog>();
  let total = 0;

  function push(log: RunLog, event: RunEvent['event'], data: string): void {
    log.events.push({ id: log.events.length + 1, event, data });
    log.bytes += data.length;
    total += data.length;
    for (const wake of log.wake) wake();
    log.wake.clear();
  }

  /** Lets go of ended runs, oldest first, while the whole is past its bound. */
  function trim(): void {
    for (const [id, log] of runs) {
      if (total <= MAX_BYTES) return;
      if (!log.ended) continue;
      runs.delete(id);
      total -= log.bytes;
    }
  }

  function finish(id: string | null, log: RunLog | null, event: 'result' | 'error', json: string | null, flush: () => void): void {
    if (!log || log.ended) return;
    flush();
    if (json !== null) push(log, event, json);
    else for (const wake of log.wake) wake();
    log.ended = true;
    setTimeout(() => {
      if (runs.get(id!) !== log) return;
      runs.delete(id!);
      total -= log.bytes;
    }, KEEP_MS).unref();
    trim();
  }

  return {
    /** Records a run of `project` from its start (the runner tells its id) to its end. */
    recorder(project: string): RunRecorder {
      let id: string | null = null;
      let log: RunLog | null = null;
      const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
      const flush = () => {
        for (const name of ['stdout', 'stderr'] as const) {
          const rest = decoders[name].end();
          if (rest && log) push(log, name, JSON.stringify({ text: rest }));
        }
      };
      return {
        started(executionId) {
          id = executionId;
          log = { project, events: [], bytes: 0, ended: false, wake: new Set() };
          runs.set(executionId, log);
          push(log, 'start', JSON.stringify({ id: executionId }));
        },
        output(stream, data) {
          const text = decoders[stream].write(data);
          if (text && log) push(log, stream, JSON.stringify({ text }));
        },
        display(bundle) {
          if (log) push(log, 'display', JSON.stringify(bundle));
        },
        end: (json) => finish(id, log, 'result', json, flush),
        fail: (json) => finish(id, log, 'error', json, flush),
      };
    },

    /**
     * `project`'s run `id`: its events after `afterId`, as they come, until its last; null when it
     * is not recorded here (or not the project's). Ends early when `signal` aborts (the client went
     * away). Each step gives every event there is by then, so that a fast run's many chunks go out
     * in few writes.
     */
    follow(id: string, project: string, afterId: number, signal: AbortSignal): AsyncIterable<RunEvent[]> | null {
      const log = runs.get(id);
      if (!log || log.project !== project) return null;
      return (async function* () {
        let next = afterId;
        while (!signal.aborted) {
          if (next < log.events.length) {
            const batch = log.events.slice(next);
            next = log.events.length;
            yield batch;
            continue; // (more may have come, its last among them, while the batch was taken)
          }
          if (log.ended) return;
          await new Promise<void>((resolve) => {
            // woken by the next event or the client's going, whichever first; neither listener is left behind
            const done = () => {
              signal.removeEventListener('abort', done);
              log.wake.delete(done);
              resolve();
            };
            log.wake.add(done);
            signal.addEventListener('abort', done, { once: true });
          });
        }
      })();
    },
  };
}

export type RunEvents = ReturnType<typeof createRunEvents>;
