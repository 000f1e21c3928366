import { randomUUID } from 'node:crypto';
import { INPUT_TOO_DEEP, inputDepthOk } from '../tools/input-depth.js';
import type { CallOutcome } from './http-functions.js';
import { type Frame, send, type Worker } from './worker.js';

/** A call sent to a worker and not answered yet. */
interface Pending {
  callee: Worker;
  settle: (outcome: CallOutcome) => void;
}

/**
 * Calls kiln sends to workers, until each is answered, times out, or its worker leaves. The callee
 * gets an id of kiln's making (the engine forwards the caller's): ids a worker chooses never key
 * anything here, so one worker cannot answer for another's call.
 */
export function createWorkerCalls(deps: { timeoutMs: number; maxResultBytes: number }) {
  const pending = new Map<string, Pending>();

  return {
    /** Sends an invocation to `owner`; resolves with its answer (or why there was none). */
    call(owner: Worker, functionId: string, data: unknown): Promise<CallOutcome> {
      const invocationId = randomUUID();
      return new Promise((resolve) => {
        const timer = setTimeout(
          () => settle({ error: { code: 'timeout', message: `no answer within ${deps.timeoutMs / 1000} s` } }),
          deps.timeoutMs,
        );
        const settle = (outcome: CallOutcome) => {
          clearTimeout(timer);
          pending.delete(invocationId);
          resolve(outcome);
        };
        pending.set(invocationId, { callee: owner, settle });
        send(owner, { type: 'invokefunction', invocation_id: invocationId, function_id: functionId, data: data ?? null });
      });
    },

    /** A worker's `invocationresult`, `bytes` long: it settles the call only when that worker is its callee. */
    answer(w: Worker, frame: Frame, bytes: number): void {
      const p = typeof frame.invocation_id === 'string' ? pending.get(frame.invocation_id) : undefined;
      if (!p || p.callee !== w) return;
      // kiln holds, answers and logs a result: past the result limit the caller hears why instead
      if (bytes > deps.maxResultBytes)
        p.settle({ error: { code: 'invalid_response', message: `the result is larger than ${deps.maxResultBytes} bytes` } });
      // an answer nested too deep would overflow JSON.stringify on its way to the caller: it hears why instead
      else if (!inputDepthOk(frame.error ?? frame.result))
        p.settle({ error: { code: 'invalid_response', message: `${frame.error ? 'error' : 'result'}: ${INPUT_TOO_DEEP}` } });
      else p.settle(frame.error ? { error: frame.error as { code: string; message: string } } : { result: frame.result ?? null });
    },

    /** The worker left: what it was running ends with `invocation_stopped`. */
    stopAll(w: Worker): void {
      for (const p of pending.values())
        if (p.callee === w) p.settle({ error: { code: 'invocation_stopped', message: 'Invocation stopped' } });
    },
  };
}
