/**
 * Connect-RPC (connectrpc.com/docs/protocol), as E2B's SDKs speak it to envd: POST only, JSON
 * encoding. A unary call is a JSON body answered with a JSON body (an empty message is `{}`); a
 * server-streaming call's request is one enveloped message (a flags byte, a 4-byte big-endian
 * length, the JSON), and its answer a sequence of such envelopes ending with one flagged 0x02 that
 * holds `{}` or `{"error":{code,message}}`. Errors of a unary call are `{code, message}` with the
 * HTTP status of the code. Errors speak Connect's codes (not_found, already_exists, ...), which the
 * SDKs act on: `exists()` is false on not_found, `makeDir()` false on already_exists.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context.js';
import { AppError } from '../../errors.js';
import { errorBody } from '../sse.js';

export type ConnectCode =
  | 'canceled'
  | 'unknown'
  | 'invalid_argument'
  | 'deadline_exceeded'
  | 'not_found'
  | 'already_exists'
  | 'permission_denied'
  | 'resource_exhausted'
  | 'failed_precondition'
  | 'unimplemented'
  | 'internal'
  | 'unavailable'
  | 'unauthenticated';

const STATUS: Record<ConnectCode, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  unauthenticated: 401,
};

/** A Connect error kiln answers with (its message names the field and the reason). */
export class ConnectError extends Error {
  constructor(
    readonly code: ConnectCode,
    message: string,
  ) {
    super(message);
  }
}

/** kiln's own error in Connect's terms. */
export function connectErrorOf(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (!(error instanceof AppError)) return new ConnectError('internal', 'internal error');
  // a sandbox that has ended is one that is not running (the SDKs say so, as for E2B's timed-out ones)
  if (error.details?.some((d) => d.reason === 'session_ended')) return new ConnectError('unavailable', error.message);
  if (error.code === 'INTERNAL') return new ConnectError('internal', error.message);
  if (error.code === 'FORBIDDEN') return new ConnectError('permission_denied', error.message);
  if (error.code === 'STORE_UNAVAILABLE') return new ConnectError('unavailable', error.message);
  const code: ConnectCode =
    error.code === 'NOT_FOUND'
      ? 'not_found'
      : error.code === 'CONFLICT'
        ? 'already_exists'
        : error.code === 'UNAUTHENTICATED'
          ? 'unauthenticated'
          : error.code === 'BUSY'
            ? 'resource_exhausted'
            : error.code === 'SANDBOX_UNAVAILABLE'
              ? 'unavailable'
              : error.code === 'PAYLOAD_TOO_LARGE'
                ? 'resource_exhausted'
                : 'invalid_argument';
  const detail = (errorBody(error).details ?? [])[0] as { field?: string } | undefined;
  return new ConnectError(
    code,
    detail?.field && !error.message.includes(detail.field) ? `${detail.field}: ${error.message}` : error.message,
  );
}

/** A unary method's route: its request message in, its answer (`{}` for an empty one) or its error out. */
export const unaryRoute =
  (handler: (c: Context<AppEnv>, message: Record<string, unknown>) => Promise<unknown>) =>
  async (c: Context<AppEnv>): Promise<Response> => {
    try {
      return c.json((await handler(c, await requestMessage(c, false))) ?? {}, 200);
    } catch (error) {
      return unaryError(c, error);
    }
  };

/** A unary error's answer. */
export function unaryError(c: Context, error: unknown): Response {
  const e = connectErrorOf(error);
  return c.json({ code: e.code, message: e.message }, STATUS[e.code] as never);
}

/** The message of a request: a unary call's JSON body, or a streaming call's one envelope. */
export async function requestMessage(c: Context, streaming: boolean): Promise<Record<string, unknown>> {
  const bytes = Buffer.from(await c.req.arrayBuffer());
  let json = bytes;
  if (streaming) {
    if (bytes.length < 5 || bytes[0] !== 0 || bytes.readUInt32BE(1) !== bytes.length - 5)
      throw new ConnectError('invalid_argument', 'the request is not one uncompressed Connect envelope');
    json = bytes.subarray(5);
  }
  if (!json.length) return {};
  let message: unknown;
  try {
    message = JSON.parse(json.toString('utf8'));
  } catch {
    throw new ConnectError('invalid_argument', 'the request message is not JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    throw new ConnectError('invalid_argument', 'the request message is not a JSON object');
  return message as Record<string, unknown>;
}

/** What a streaming client may leave unread before kiln lets it go. */
const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

const envelope = (flags: number, message: unknown) => {
  const json = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
};

/**
 * A server-streaming answer: `run` is given `send` for each message, and its end (or its throw, an
 * error in the end envelope) ends the stream. `stop` aborts when the client goes away.
 */
export function serverStream(run: (send: (message: unknown) => void, stop: AbortSignal) => Promise<void>): Response {
  const stop = new AbortController();
  let ended = false;
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const send = (message: unknown) => {
          if (stop.signal.aborted || ended) return;
          // a client that does not read: past the bound it is let go (the run goes on), kiln's memory kept
          if ((controller.desiredSize ?? 0) < -MAX_UNREAD_BYTES) {
            finish({ error: { code: 'resource_exhausted', message: 'the client did not keep up with the stream; connect again' } });
            stop.abort();
            return;
          }
          controller.enqueue(envelope(0, message));
        };
        void run(send, stop.signal).then(
          () => finish({}),
          (error: unknown) => {
            const e = connectErrorOf(error);
            finish({ error: { code: e.code, message: e.message } });
          },
        );
        function finish(end: unknown) {
          if (stop.signal.aborted || ended) return;
          ended = true;
          controller.enqueue(envelope(2, end));
          controller.close();
        }
      },
      cancel() {
        stop.abort();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }),
  );
  return new Response(
    body,
    // (bytes, counted by their length: the queue's size is in bytes)
    { status: 200, headers: { 'content-type': 'application/connect+json', 'cache-control': 'no-store' } },
  );
}

/** A streaming call refused before it began: its error in the end envelope, as Connect's clients read it for a stream. */
export const streamError = (error: unknown) =>
  serverStream(async () => {
    throw error;
  });

/** A field of a message that must be a string. */
export function stringField(message: Record<string, unknown>, field: string, optional = false): string {
  const value = message[field];
  if (value === undefined && optional) return '';
  if (typeof value !== 'string') throw new ConnectError('invalid_argument', `${field}: must be a string`);
  return value;
}
