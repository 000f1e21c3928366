import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AppEnv } from '../../../src/api/context.js';
import { toErrorResponse } from '../../../src/api/error-response.js';
import { AppError, type ErrorCode } from '../../../src/errors.js';
import { buildTestApp, jsonHeaders } from '../../helpers/app-fixture.js';

/** A one-route app whose handler throws `err`; the log lines land in `lines`. */
function appThrowing(err: unknown, lines: string[] = []) {
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  const log = pino({ level: 'error' }, sink);
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    c.set('requestId', 'req_test');
    await next();
  });
  app.onError((e, c) => toErrorResponse(e, c, log));
  app.get('/', () => {
    throw err;
  });
  return app;
}

const cases: [ErrorCode, number, number][] = [
  ['BAD_REQUEST', 400, 3],
  ['UNAUTHENTICATED', 401, 16],
  ['NOT_FOUND', 404, 5],
  ['PAYLOAD_TOO_LARGE', 413, 3],
  ['BUSY', 429, 8],
  ['SANDBOX_UNAVAILABLE', 503, 14],
  ['INTERNAL', 500, 13],
];

describe('toErrorResponse', () => {
  it.each(cases)('maps AppError %s to HTTP %i with google.rpc code %i', async (code, status, grpc) => {
    const details = [{ field: 'x', reason: 'because' }];
    const res = await appThrowing(new AppError(code, `msg for ${code}`, details)).request('/');
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ code: grpc, message: `msg for ${code}`, details });
  });

  it('omits details when there are none', async () => {
    const res = await appThrowing(new AppError('NOT_FOUND', 'nope')).request('/');
    expect(await res.json()).toEqual({ code: 5, message: 'nope' });
  });

  it('sets Retry-After for BUSY', async () => {
    const res = await appThrowing(new AppError('BUSY', 'full', [{ reason: 'queue_full' }], 3)).request('/');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
  });

  it('sends no Retry-After when none is set', async () => {
    const res = await appThrowing(new AppError('BAD_REQUEST', 'bad')).request('/');
    expect(res.headers.get('retry-after')).toBeNull();
  });

  it('maps a ZodError to 400 naming each field', async () => {
    const schema = z.object({ name: z.string(), limits: z.object({ memory_size: z.number() }) });
    const parsed = schema.safeParse({ name: 1, limits: { memory_size: 'big' } });
    expect(parsed.success).toBe(false);
    const res = await appThrowing(parsed.error).request('/');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: number; message: string; details: { field: string; reason: string }[] };
    expect(body.code).toBe(3);
    expect(body.message).toContain('name');
    expect(body.message).toContain('limits.memory_size');
    expect(body.details.map((d) => d.field).sort()).toEqual(['limits.memory_size', 'name']);
    for (const d of body.details) expect(d.reason).toBe('invalid_type');
  });

  it('maps a client HTTPException to its status', async () => {
    const res = await appThrowing(new HTTPException(413, { message: 'too big' })).request('/');
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ code: 3, message: 'too big' });
    const unauth = await appThrowing(new HTTPException(401)).request('/');
    expect(unauth.status).toBe(401);
    expect(((await unauth.json()) as { code: number }).code).toBe(16);
  });

  it('maps an unknown Error to 500 without leaking its message, and logs it', async () => {
    const lines: string[] = [];
    const secret = 'connect ECONNREFUSED /var/run/docker.sock token=s3cr3t';
    const res = await appThrowing(new Error(secret), lines).request('/');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('docker.sock');
    expect(JSON.parse(text)).toEqual({ code: 13, message: 'internal error' });
    expect(lines.join('')).toContain(secret);
  });

  it('maps a database that does not answer to a 503 to retry, not a 500', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const pool = new Error('timeout exceeded when trying to connect');
    for (const err of [refused, shutdown, pool]) {
      const res = await appThrowing(err).request('/');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      const body = await res.json();
      expect(body).toMatchObject({ code: 14, details: [{ reason: 'store_unavailable' }] });
      expect(JSON.stringify(body)).not.toContain('10.0.0.5');
    }
    // a query that is wrong is kiln's fault, not an outage
    const syntax = Object.assign(new Error('syntax error at or near "selec"'), { code: '42601' });
    expect((await appThrowing(syntax).request('/')).status).toBe(500);
  });

  it('maps a server-side HTTPException to a generic 500', async () => {
    const res = await appThrowing(new HTTPException(502, { message: 'upstream detail' })).request('/');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: 13, message: 'internal error' });
  });

  it('puts the request id of the real app into the log line of an unhandled error', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const { post } = await buildTestApp({
      log,
      runJob: async () => {
        throw new Error('the runner broke');
      },
    });
    const res = await post(
      '/v1/execute',
      { language: 'python', code: 'print(1)' },
      { ...jsonHeaders, 'X-Request-Id': 'req-from-client-42' },
    );
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('req-from-client-42');
    const line = JSON.parse(lines.find((l) => l.includes('unhandled error'))!);
    expect(line.requestId).toBe('req-from-client-42');
  });
});
