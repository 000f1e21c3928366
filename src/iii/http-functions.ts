import type { KeyOfRequest } from '../access/scopes.js';
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { RefusedAddress, type AddressPolicy } from '../egress/address-policy.js';
import { outboundPost } from '../egress/outbound.js';
import type { ConcurrencyCap } from '../execution/concurrency-cap.js';
import { INPUT_TOO_DEEP, inputDepthOk } from '../tools/input-depth.js';
import { redactText } from '../execution/redact.js';
import { AppError, fieldError } from '../errors.js';
import type { Secrets } from '../secrets/secrets.js';
import type { RegisteredFunction } from '../store/functions/records.js';
import type { Store } from '../store/store.js';
import { type CallOutcome, logFunctionCall } from './call-log.js';
import { checkInput, compileInputSchema } from '../tools/input-schema.js';

export type { CallOutcome };

const AUTH_NAMES = { bearer: 'Bearer token', hmac: 'HMAC', api_key: 'API key' } as const;

/** The seed's missing_env_var error: a `*_key` names no secret of the project. */
export class MissingSecret extends Error {
  constructor(
    readonly key: string,
    kind: keyof typeof AUTH_NAMES,
  ) {
    super(
      `Missing environment variable '${key}' for ${AUTH_NAMES[kind]} authentication. Please set this environment variable before registering the function.`,
    );
  }
}

/** The engine's HMAC: hex HMAC-SHA256(secret, "<timestamp>:" + base64(body)). */
export const iiiSignature = (secret: string, timestamp: string, body: string) =>
  `sha256=${createHmac('sha256', secret)
    .update(`${timestamp}:${Buffer.from(body).toString('base64')}`)
    .digest('hex')}`;

/** The outcome with the secret's value taken out wherever the upstream put it (see redactText). */
function withoutSecret(outcome: CallOutcome, secret: string): CallOutcome {
  const text = JSON.stringify(outcome);
  const redacted = redactText(text, [secret]);
  if (redacted === text) return outcome;
  try {
    return JSON.parse(redacted) as CallOutcome;
  } catch {
    // the value matched across JSON syntax: nothing of the answer can be given back safely
    return { error: { code: 'invalid_response', message: 'the answer held the credential the function is called with, and was withheld' } };
  }
}

/** The engine's reading of an HTTP function's answer. */
function outcomeOf(status: number, contentType: string | null, body: Buffer, truncated: boolean, maxBytes: number): CallOutcome {
  const text = body.toString('utf8');
  if (status >= 200 && status < 300) {
    if (truncated) return { error: { code: 'invalid_response', message: `the answer is larger than ${maxBytes} bytes` } };
    if (text.trim() === '') return { result: null };
    let result: unknown;
    try {
      result = JSON.parse(text) as unknown;
    } catch {
      return { error: { code: 'invalid_response', message: `the answer is not JSON (${contentType ?? 'no content type'})` } };
    }
    // kiln writes the result back out (the answer, the log): JSON nested thousands deep would overflow its stack
    if (!inputDepthOk(result)) return { error: { code: 'invalid_response', message: `the answer ${INPUT_TOO_DEEP}` } };
    return { result };
  }
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.code === 'string')
      return { error: { code: parsed.error.code, message: String(parsed.error.message ?? '') } };
  } catch {}
  return { error: { code: 'http_error', message: `HTTP ${status}` } };
}

/**
 * Functions registered as the iii engine registers them, invoked over HTTP as the engine calls
 * them (its headers, its three auths, its HMAC, its result mapping), through kiln's address policy.
 * Each call is a row of the executions log (kind `http_function`, via `iii`).
 */
export function createHttpFunctions(deps: {
  store: Store;
  secrets: Secrets;
  policy: AddressPolicy;
  allowHttp: boolean;
  maxTimeoutMs: number;
  log: Logger;
  /** kiln's own calls for one project at once (shared with worker invocations). */
  outbound: ConcurrencyCap;
  /** The most of an answer kiln reads (it is buffered, answered and logged). */
  maxAnswerBytes: number;
}) {
  const functions = deps.store.functions;

  async function resolveAuth(project: string, auth: NonNullable<RegisteredFunction['invocation']>['auth']): Promise<string | undefined> {
    if (!auth) return undefined;
    const key = auth.type === 'bearer' ? auth.token_key : auth.type === 'hmac' ? auth.secret_key : auth.value_key;
    const secret = await deps.secrets.byName(project, key);
    if (!secret) throw new MissingSecret(key, auth.type);
    return secret.id;
  }

  async function call(project: string, fn: RegisteredFunction, data: unknown): Promise<CallOutcome> {
    const inv = fn.invocation!;
    const body = JSON.stringify(data ?? null);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      ...inv.headers,
      'content-type': 'application/json',
      'x-iii-function-path': fn.id,
      'x-iii-invocation-id': randomUUID(),
      'x-iii-timestamp': timestamp,
    };
    let secret: string | undefined;
    if (inv.auth && inv.secret_id) {
      const values = await deps.secrets.reveal(project, [{ id: inv.secret_id, field: 'invocation.auth' }]).catch(() => null);
      secret = values?.get(inv.secret_id);
      if (secret === undefined)
        return { error: { code: 'missing_env_var', message: 'the secret this function was registered with is gone; register it again' } };
      if (inv.auth.type === 'bearer') headers.authorization = `Bearer ${secret}`;
      else if (inv.auth.type === 'api_key') headers[inv.auth.header.toLowerCase()] = secret;
      else headers['x-iii-signature'] = iiiSignature(secret, timestamp, body);
    }
    const outcome = await send(fn, inv, body, headers);
    // an upstream may echo what it was sent (its request headers, in an answer or an error): the
    // credential leaves kiln only in the header it is bound to, never in an answer, log or row
    return secret === undefined ? outcome : withoutSecret(outcome, secret);
  }

  async function send(
    fn: RegisteredFunction,
    inv: NonNullable<RegisteredFunction['invocation']>,
    body: string,
    headers: Record<string, string>,
  ): Promise<CallOutcome> {
    try {
      const answer = await outboundPost(new URL(inv.url), body, headers, deps.policy, {
        timeoutMs: Math.min(inv.timeout_ms, deps.maxTimeoutMs),
        maxResponseBytes: deps.maxAnswerBytes,
        method: inv.method,
      });
      return outcomeOf(answer.status, answer.contentType, answer.body, answer.truncated, deps.maxAnswerBytes);
    } catch (err) {
      if (!(err instanceof RefusedAddress)) return { error: { code: 'http_request_failed', message: (err as Error).message } };
      // the caller learns the host was refused, never the address kiln's resolver gave for it
      deps.log.warn({ function: fn.id, host: err.host, why: err.why }, 'iii function refused by the address policy');
      return { error: { code: 'url_validation_failed', message: err.toCaller('KILN_FUNCTIONS_ALLOW_ADDRESSES') } };
    }
  }

  return {
    async register(project: string, fn: Omit<RegisteredFunction, 'project' | 'created_at'>): Promise<RegisteredFunction> {
      if (fn.request_format !== undefined) compileInputSchema(fn.request_format, 'request_format');
      if (fn.invocation && new URL(fn.invocation.url).protocol !== 'https:' && !deps.allowHttp)
        throw fieldError('invocation.url', 'https_required', 'must be https:// (KILN_FUNCTIONS_ALLOW_HTTP allows http://)');
      const secretId = await resolveAuth(project, fn.invocation?.auth);
      const invocation = fn.invocation ? { invocation: { ...fn.invocation, ...(secretId ? { secret_id: secretId } : {}) } } : {};
      const record: RegisteredFunction = { ...fn, project, ...invocation, created_at: new Date().toISOString() };
      if (!(await functions.register(record)))
        throw new AppError(
          'CONFLICT',
          `function ${fn.id} is already registered: unregister it first (DELETE /v1/functions/${fn.id}) or use another id`,
          [{ field: 'id', reason: 'already_registered' }],
        );
      return record;
    },
    list: (project: string) => functions.list(project),
    async get(project: string, id: string): Promise<RegisteredFunction> {
      const fn = await functions.get(project, id);
      if (!fn) throw new AppError('NOT_FOUND', `function ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
      return fn;
    },
    async remove(project: string, id: string): Promise<void> {
      if (!(await functions.remove(project, id)))
        throw new AppError('NOT_FOUND', `function ${id} not found`, [{ field: 'id', reason: 'not_found' }]);
    },

    /** Calls a registered HTTP function with `data` (checked against request_format first) and logs the call. */
    async invoke(project: string, fn: RegisteredFunction, data: unknown, key?: KeyOfRequest | null): Promise<{ id: string } & CallOutcome> {
      if (!fn.invocation) throw fieldError('id', 'no_invocation', `function ${fn.id} has no HTTP invocation: a worker handles it`);
      checkInput(fn.request_format, data, { field: 'data', schema: "the function's request_format", schemaField: 'request_format' });
      const started = performance.now();
      // the project's share of kiln's own outbound calls, or a 429 before anything is sent
      const outcome = await deps.outbound.run(project, () => call(project, fn, data));
      const id = await logFunctionCall(deps, { project, kind: 'http_function', functionId: fn.id, data, outcome, started, key });
      return { id, ...outcome };
    },
  };
}

export type HttpFunctions = ReturnType<typeof createHttpFunctions>;
