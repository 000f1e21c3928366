/**
 * Server-sent events for a run (issue 24): `Accept: text/event-stream` on an execute gets its
 * output as the box writes it, then one `result` event holding exactly the JSON the plain call
 * answers. The stream begins only once the run has begun (its box has the request): whatever
 * fails before — a 400 naming a field, a 429 for a full queue — is answered as without the header,
 * with its status. A client that goes away stops nothing: the run ends, and is logged, as it would.
 *
 * Events: `start` (the execution's id), `stdout` / `stderr` ({"text"}: UTF-8 never cut inside a
 * character, in order, secrets taken out, within the output caps), `result` (the answer's JSON),
 * or `error` (kiln's error body, should kiln fail after the start). Each has an `id`, counting from
 * 1; a comment every HEARTBEAT_MS keeps proxies from closing a quiet stream.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Context } from 'hono';
import { AppError } from '../errors.js';
import type { RunStream } from '../sandbox/job.js';
import type { AppEnv } from './context.js';

const HEARTBEAT_MS = 15_000;

type StreamHooks = RunStream;

/** kiln's failure after the stream began (rare: what the code does is the answer's data). */
function errorBody(error: unknown) {
  return error instanceof AppError ? { message: error.message, details: error.details ?? [] } : { message: 'internal error' };
}

/** Whether the client asked for a stream (`Accept: text/event-stream`). */
export const wantsEvents = (c: Context<AppEnv>) => /\btext\/event-stream\b/i.test(c.req.header('accept') ?? '');

/**
 * Answers `run` as a stream of events once it has begun, or as `plain` would (a Response, or the
 * error it threw) if it ends or fails before that. `run` resolves to the final answer's JSON text.
 */
async function eventsOrPlain(run: (hooks: StreamHooks) => Promise<string>): Promise<Response | { plain: string }> {
  // made first: what the run prints before the stream is answered waits in it
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      open = false;
    },
  });
  let seq = 0;
  const encoder = new TextEncoder();
  const write = (text: string) => {
    if (!open) return;
    try {
      controller.enqueue(encoder.encode(text));
    } catch {
      open = false; // the client went away: the run goes on
    }
  };
  const send = (event: string, data: string) => write(`id: ${++seq}\nevent: ${event}\ndata: ${data}\n\n`);
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  let begin!: (id: string) => void;
  const begun = new Promise<string>((resolve) => (begin = resolve));
  const hooks: StreamHooks = {
    started: (id) => begin(id),
    output(stream, data) {
      const text = decoders[stream].write(data);
      if (text) send(stream, JSON.stringify({ text }));
    },
  };
  const answer = run(hooks);
  // (the start event goes first: output can only follow the box's taking the request, a turn later)
  const settled = answer.then((json) => ({ json }));
  const first = await Promise.race([begun.then((id) => ({ id })), settled]);
  if ('json' in first) return { plain: first.json };
  settled.catch(() => {}); // a failure from here on is the stream's error event
  send('start', JSON.stringify({ id: first.id }));
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
  void answer
    .then(
      (json) => {
        for (const name of ['stdout', 'stderr'] as const) {
          const rest = decoders[name].end();
          if (rest) send(name, JSON.stringify({ text: rest }));
        }
        send('result', json);
      },
      (error: unknown) => send('error', JSON.stringify(errorBody(error))),
    )
    .finally(() => {
      clearInterval(heartbeat);
      if (open) controller.close();
      open = false;
    });
  return new Response(stream, {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
  });
}

/**
 * The answer to an execute: a stream of events when the client asked for one (`run` is given the
 * listener), else `run`'s JSON as it is. `run` resolves to the answer's JSON text.
 */
export async function answerRun(c: Context<AppEnv>, run: (stream?: RunStream) => Promise<string>): Promise<Response> {
  const answered = wantsEvents(c) ? await eventsOrPlain((hooks) => run(hooks)) : { plain: await run() };
  return answered instanceof Response ? answered : c.body(answered.plain, 200, { 'content-type': 'application/json' });
}
