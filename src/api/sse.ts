/**
 * Server-sent events for a run (issue 24): `Accept: text/event-stream` on an execute gets its
 * output as the box writes it, then one `result` event holding exactly the JSON the plain call
 * answers. The stream begins only once the run has begun (its box has the request): whatever
 * fails before — a 400 naming a field, a 429 for a full queue — is answered as without the header,
 * with its status. A client that goes away stops nothing: the run ends, and is logged, as it would,
 * and its events stay a while for a client that reconnects (src/execution/run-events.ts).
 *
 * Events: `start` (the execution's id), `stdout` / `stderr` ({"text"}: UTF-8 never cut inside a
 * character, in order, secrets taken out, within the output caps), `display` (a session execute's
 * result bundle as the code displays it, before the answer that holds it too), `result` (the answer's JSON),
 * or `error` (kiln's error body, should kiln fail after the start). Each has an `id`, counting from
 * 1; a comment every HEARTBEAT_MS keeps proxies from closing a quiet stream.
 */
import type { Context } from 'hono';
import { AppError } from '../errors.js';
import type { RunEvent, RunEvents } from '../execution/run-events.js';
import type { RunStream } from '../sandbox/job.js';
import type { AppEnv } from './context.js';

const HEARTBEAT_MS = 15_000;

/** Waits `ms`, or less once `signal` aborts (a stream whose client went); leaves no listener behind. */
export const sleepUnless = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** Whether the client asked for a stream (`Accept: text/event-stream`). */
export const wantsEvents = (c: Context<AppEnv>) => /\btext\/event-stream\b/i.test(c.req.header('accept') ?? '');

/** kiln's failure after the stream began (rare: what the code does is the answer's data). */
export function errorBody(error: unknown) {
  return error instanceof AppError ? { message: error.message, details: error.details ?? [] } : { message: 'internal error' };
}

/** SSE's form of one event. */
export const sseEvent = (e: Pick<RunEvent, 'id' | 'event' | 'data'>) => `id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`;

/** `events` as an SSE answer, with a heartbeat; `stop` is told when the client goes away. */
export function eventStream(events: AsyncIterable<string>, stop: AbortController): Response {
  const encoder = new TextEncoder();
  const iterator = events[Symbol.asyncIterator]();
  let heartbeat: NodeJS.Timeout | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      heartbeat = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(': keep-alive\n\n'));
        } catch {
          clearInterval(heartbeat);
        }
      }, HEARTBEAT_MS);
    },
    async pull(controller) {
      const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) {
        clearInterval(heartbeat);
        controller.close();
      } else controller.enqueue(encoder.encode(next.value));
    },
    cancel() {
      clearInterval(heartbeat);
      stop.abort(); // the run goes on; only this client's following ends
      // a generator paused at a yield runs its finally (its listeners go) only when returned
      void iterator.return?.(undefined)?.catch(() => {});
    },
  });
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
  });
}

/**
 * The answer to an execute: a stream of events when the client asked for one (`run` is given the
 * listener, which records the run's events for reconnecting clients too), else `run`'s JSON as it
 * is. `run` resolves to the answer's JSON text.
 */
export async function answerRun(c: Context<AppEnv>, runEvents: RunEvents, run: (stream?: RunStream) => Promise<string>): Promise<Response> {
  if (!wantsEvents(c)) return c.body(await run(), 200, { 'content-type': 'application/json' });
  const recorder = runEvents.recorder(c.get('project'));
  let begin!: (id: string) => void;
  const begun = new Promise<string>((resolve) => (begin = resolve));
  const answer = run({
    started(id) {
      recorder.started(id);
      begin(id);
    },
    output: (stream, data) => recorder.output(stream, data),
    display: (bundle) => recorder.display?.(bundle),
  });
  const settled = answer.then((json) => ({ json }));
  const first = await Promise.race([begun.then((id) => ({ id })), settled]);
  if ('json' in first) return c.body(first.json, 200, { 'content-type': 'application/json' });
  settled.catch(() => {}); // a failure from here on is the stream's error event, below
  void answer.then(
    (json) => recorder.end(json),
    (error: unknown) => recorder.fail(JSON.stringify(errorBody(error))),
  );
  const stop = new AbortController();
  const events = runEvents.follow(first.id, c.get('project'), 0, stop.signal)!;
  return eventStream(
    (async function* () {
      for await (const batch of events) yield batch.map(sseEvent).join('');
    })(),
    stop,
  );
}
