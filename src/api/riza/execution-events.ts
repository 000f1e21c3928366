/**
 * GET /v1/executions/{id}/events (issue 24): a run's events for a client that follows it or lost
 * its stream — the live ones of a streamed or async run while it runs (and a while after), from
 * `Last-Event-ID` on; a queued invocation's once it starts; and an ended run's as recorded (start,
 * its whole stdout and stderr, and its status as GET /v1/executions/{id} answers it).
 */
import type { Context } from 'hono';
import { AppError, fieldError } from '../../errors.js';
import type { RunEvents } from '../../execution/run-events.js';
import type { ExecutionStatus, ExecutionStatuses } from '../../invocations/execution-status.js';
import type { AppEnv } from '../context.js';
import { eventStream, sseEvent } from '../sse.js';
import { executionView } from './render.js';

const POLL_MS = 250;
/** How long an async run's end waits for its status to be written, once its events have ended. */
const STATUS_WAIT_MS = 10_000;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** Whether the status is final: logged, and no invocation still queued or running. */
const over = (s: ExecutionStatus | null) =>
  s !== null &&
  !(s.invocation && (s.invocation.status === 'queued' || s.invocation.status === 'running')) &&
  (s.record !== null || s.invocation !== null);

/** The events an ended run's record makes: start, its output whole, its status. */
function* recorded(status: ExecutionStatus, after: number) {
  const response = (status.record?.result ?? {}) as { stdout?: unknown; stderr?: unknown };
  const events = [{ event: 'start', data: JSON.stringify({ id: status.id }) }];
  for (const name of ['stdout', 'stderr'] as const) {
    const text = response[name];
    if (typeof text === 'string' && text) events.push({ event: name, data: JSON.stringify({ text }) });
  }
  events.push({ event: 'result', data: JSON.stringify(executionView(status)) });
  for (const [i, e] of events.entries()) if (i + 1 > after) yield sseEvent({ id: i + 1, ...e } as never);
}

export function executionEvents(deps: { statuses: ExecutionStatuses; runEvents: RunEvents }) {
  const { statuses, runEvents } = deps;

  async function* follow(project: string, id: string, after: number, signal: AbortSignal): AsyncGenerator<string> {
    let last = after;
    while (!signal.aborted) {
      const live = runEvents.follow(id, project, last, signal);
      if (live) {
        for await (const e of live) {
          last = e.id;
          yield sseEvent(e);
          if (e.event === 'result' || e.event === 'error') return;
        }
        if (signal.aborted) return;
        // an async run's answer is its status, written just after its events end
        let status = await statuses.get(project, id);
        for (
          const until = Date.now() + STATUS_WAIT_MS;
          !over(status) && Date.now() < until && !signal.aborted;
          await sleep(POLL_MS, signal)
        )
          status = await statuses.get(project, id);
        if (status) yield sseEvent({ id: last + 1, event: 'result', data: JSON.stringify(executionView(status)) });
        return;
      }
      const status = await statuses.get(project, id);
      if (!status) return;
      if (over(status)) {
        yield* recorded(status, last);
        return;
      }
      await sleep(POLL_MS, signal); // queued, or running on another replica: its events or its end come
    }
  }

  return async (c: Context<AppEnv>) => {
    const id = c.req.param('id')!;
    const project = c.get('project');
    const header = c.req.header('last-event-id');
    const after = header === undefined ? 0 : Number(header);
    if (!Number.isSafeInteger(after) || after < 0) throw fieldError('Last-Event-ID', 'invalid', 'must be a whole number of 0 or more');
    if (!runEvents.follow(id, project, 0, AbortSignal.abort()) && !(await statuses.get(project, id)))
      throw new AppError('NOT_FOUND', `execution ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    const stop = new AbortController();
    return eventStream(follow(project, id, after, stop.signal), stop);
  };
}
