/**
 * GET /v1/executions/{id}/events (issue 24): a run's events for a client that follows it or lost
 * its stream — the live ones of a streamed or async run while it runs (and a while after), from
 * `Last-Event-ID` on; a queued invocation's once it starts; and an ended run's as recorded (start,
 * its whole stdout and stderr, and its status as GET /v1/executions/{id} answers it).
 *
 * Replicas: a run's live events are held by the kiln that runs it. Asked through another, kiln
 * asks its live peers (at the KILN_REPLICA_URL each said with its heartbeat) for them with the
 * caller's own credentials and relays what the one running it streams; a forwarded request is
 * answered from the live events held there only, never forwarded again.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Context } from 'hono';
import { AppError, fieldError } from '../../errors.js';
import type { RunEvent, RunEvents } from '../../execution/run-events.js';
import type { ExecutionStatus, ExecutionStatuses } from '../../invocations/execution-status.js';
import type { AppEnv } from '../context.js';
import { eventStream, sleepUnless, sseEvent } from '../sse.js';
import { executionView } from './render.js';
import { FORWARDED } from './session-forward.js';

const POLL_MS = 250;
/** How often a follower asks the peers again for a run that runs elsewhere and none of them streamed yet. */
const PEER_RETRY_MS = 2_000;
/** How long a peer may take to answer a follower's ask. */
const PEER_WAIT_MS = 5_000;
/** How long an async run's end waits for its status to be written, once its events have ended. */
const STATUS_WAIT_MS = 10_000;

/** Whether the status is final: logged, and no invocation still queued or running. */
const over = (s: ExecutionStatus | null) =>
  s !== null &&
  !(s.invocation && (s.invocation.status === 'queued' || s.invocation.status === 'running')) &&
  (s.record !== null || s.invocation !== null);

/** The events an ended run's record makes: start, its output whole, its status. */
function* recorded(status: ExecutionStatus, after: number, afterLive = false) {
  const response = (status.record?.result ?? {}) as { stdout?: unknown; stderr?: unknown };
  const events = [{ event: 'start', data: JSON.stringify({ id: status.id }) }];
  for (const name of ['stdout', 'stderr'] as const) {
    const text = response[name];
    if (typeof text === 'string' && text) events.push({ event: name, data: JSON.stringify({ text }) });
  }
  const result = { event: 'result', data: JSON.stringify(executionView(status)) };
  // after live events (numbered their own way, the output already sent) only the answer is new
  if (afterLive) {
    yield sseEvent({ id: after + 1, ...result } as never);
    return;
  }
  events.push(result);
  for (const [i, e] of events.entries()) if (i + 1 > after) yield sseEvent({ id: i + 1, ...e } as never);
}

async function* mapEvents<T>(events: AsyncIterable<T>, f: (e: T) => string): AsyncGenerator<string> {
  for await (const e of events) yield f(e);
}

/** The SSE events of a peer's answer, as they come; ends with it (or when `signal` aborts). */
async function* relay(answer: Response, signal: AbortSignal): AsyncGenerator<EventSourceMessage> {
  const got: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => got.push(e) });
  const decoder = new TextDecoder();
  const reader = answer.body!.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      yield* got.splice(0);
    }
  } catch {
    return; // the peer went away: the follower goes on from the last event it relayed
  } finally {
    signal.removeEventListener('abort', cancel);
    cancel();
  }
}

export function executionEvents(deps: {
  statuses: ExecutionStatuses;
  runEvents: RunEvents;
  peers?: () => Promise<string[]>;
  instance: string;
}) {
  const { statuses, runEvents } = deps;

  /** The live stream of run `id` from the peer that holds it, from `after` on; null when none does. */
  async function openPeer(id: string, after: number, auth: string | undefined, signal: AbortSignal): Promise<Response | null> {
    const peers = (await deps.peers?.().catch(() => [])) ?? [];
    const headers = {
      accept: 'text/event-stream',
      'last-event-id': String(after),
      [FORWARDED]: deps.instance,
      ...(auth ? { authorization: auth } : {}),
    };
    for (const peer of peers) {
      if (signal.aborted) return null;
      // a peer that does not answer within PEER_WAIT_MS is passed over (its stream, once begun, has no bound)
      const asking = new AbortController();
      const give = () => asking.abort();
      signal.addEventListener('abort', give, { once: true });
      const timer = setTimeout(give, PEER_WAIT_MS);
      const answer = await fetch(`${peer}/v1/executions/${encodeURIComponent(id)}/events`, {
        headers,
        signal: asking.signal,
        redirect: 'manual',
      }).catch(() => null);
      clearTimeout(timer);
      if (answer?.status === 200 && answer.body) return answer;
      signal.removeEventListener('abort', give);
      await answer?.body?.cancel().catch(() => {});
    }
    return null;
  }

  async function* follow(
    project: string,
    id: string,
    after: number,
    signal: AbortSignal,
    peer: { auth: string | undefined; first: Response | null },
  ): AsyncGenerator<string> {
    let last = after;
    let asked = 0;
    let remote = peer.first;
    let relayed = false;
    while (!signal.aborted) {
      if (remote) {
        for await (const e of relay(remote, signal)) {
          if (e.id) last = Number(e.id);
          yield sseEvent({ id: last, event: (e.event ?? 'message') as RunEvent['event'], data: e.data });
          if (e.event === 'result' || e.event === 'error') return;
        }
        remote = null;
        relayed = true;
        asked = Date.now(); // its events ended without an answer (an async run's is its status; or its kiln stopped)
      }
      const live = runEvents.follow(id, project, last, signal);
      if (live) {
        for await (const batch of live) {
          last = batch.at(-1)!.id;
          yield batch.map(sseEvent).join('');
          if (batch.some((e) => e.event === 'result' || e.event === 'error')) return;
        }
        if (signal.aborted) return;
        // an async run's answer is its status, written just after its events end
        let status = await statuses.get(project, id);
        for (
          const until = Date.now() + STATUS_WAIT_MS;
          !over(status) && Date.now() < until && !signal.aborted;
          await sleepUnless(POLL_MS, signal)
        )
          status = await statuses.get(project, id);
        if (status) yield sseEvent({ id: last + 1, event: 'result', data: JSON.stringify(executionView(status)) });
        return;
      }
      const status = await statuses.get(project, id);
      if (over(status)) {
        yield* recorded(status!, last, relayed);
        return;
      }
      // running, but not here (or a synchronous run, logged only once it ends): on a peer, perhaps
      if ((!status || status.invocation?.status === 'running') && Date.now() - asked >= PEER_RETRY_MS) {
        asked = Date.now();
        remote = await openPeer(id, last, peer.auth, signal);
        if (remote) continue;
      }
      if (!status) {
        // a synchronous run followed on a peer that went away: it is not logged, and will not be
        if (relayed)
          yield sseEvent({ id: last + 1, event: 'error', data: JSON.stringify({ message: 'the kiln running it went away', details: [] }) });
        return;
      }
      await sleepUnless(POLL_MS, signal); // queued, or running where no peer streams it: its events or its end come
    }
  }

  return async (c: Context<AppEnv>) => {
    const id = c.req.param('id')!;
    const project = c.get('project');
    const header = c.req.header('last-event-id');
    const after = header === undefined ? 0 : Number(header);
    if (!Number.isSafeInteger(after) || after < 0) throw fieldError('Last-Event-ID', 'invalid', 'must be a whole number of 0 or more');
    const notFound = () => new AppError('NOT_FOUND', `execution ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    const stop = new AbortController();
    if (c.req.header(FORWARDED)) {
      // another kiln asks for what runs here: the live events, or nothing (it polls on itself)
      const held = runEvents.follow(id, project, after, stop.signal);
      if (!held) throw notFound();
      return eventStream(
        mapEvents(held, (batch) => batch.map(sseEvent).join('')),
        stop,
      );
    }
    const auth = c.req.header('authorization');
    let first: Response | null = null;
    if (!runEvents.follow(id, project, 0, AbortSignal.abort()) && !(await statuses.get(project, id))) {
      first = await openPeer(id, after, auth, stop.signal);
      if (!first) throw notFound();
    }
    return eventStream(follow(project, id, after, stop.signal, { auth, first }), stop);
  };
}
