import { OpenAPIHono } from '@hono/zod-openapi';
import { keyOfRequest } from '../access/scopes.js';
import type { ExecutionContext } from '../execution/request.js';
import type { Context } from 'hono';
import { fieldError } from '../errors.js';
import type { AppEnv } from './env.js';
import { validationHook } from './error-response.js';

export type { AppEnv };

/**
 * What the core needs of an HTTP request it runs, for any dialect: its size, for admission (without
 * a Content-Length, the largest it could have been), and the signal of a client that leaves.
 */
export function executionContext(c: Context<AppEnv>, maxBodyBytes: number): ExecutionContext {
  const request = c.req.raw;
  const principal = c.get('principal');
  return {
    bytes: Number(request.headers.get('content-length') ?? maxBodyBytes),
    signal: request.signal,
    timer: c.get('timer'),
    key: principal ? keyOfRequest(principal) : null,
  };
}

/**
 * The body as JSON, for routes that read it themselves (the C1, iii and AT dialects): an empty
 * body is `{}`, and one that is not JSON a 400 naming the body, as the validated routes answer.
 */
export async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw fieldError('(body)', 'malformed_json', 'is not JSON');
  }
}

/** A router with kiln's context variables and its 400-naming-the-field validation hook. */
export const createRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
