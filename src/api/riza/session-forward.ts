/**
 * Replicas: a call to a session whose box another live kiln holds is sent on to that kiln (at the
 * KILN_REPLICA_URL it recorded) with the caller's own request — method, path, headers, body — and
 * its answer streamed back as it comes. A forwarded request is never forwarded again: the kiln it
 * reaches either holds the session or answers the 503 itself.
 */
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { SessionElsewhere } from '../../sessions/sessions.js';
import type { AppEnv } from '../context.js';

export const FORWARDED = 'kiln-forwarded';
/** Headers of one hop only (RFC 9110 §7.6.1), and the length of a body fetch has decoded. */
const HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'content-encoding', 'te', 'trailer'];

export function forwardSessionCalls(instance: string, log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const error = c.error;
    if (!(error instanceof SessionElsewhere) || !error.ownerUrl || c.req.header(FORWARDED)) return;
    const { pathname, search } = new URL(c.req.url);
    const headers = new Headers(c.req.raw.headers);
    for (const name of HOP) headers.delete(name);
    headers.set(FORWARDED, instance);
    const raw = c.req.raw;
    // a body not read yet (a file's upload) streams on; one the route has read (JSON) is sent from hono's cache
    const body =
      raw.method === 'GET' || raw.method === 'HEAD'
        ? undefined
        : raw.body && !raw.bodyUsed && !raw.body.locked
          ? raw.body
          : await c.req.arrayBuffer();
    try {
      const answer = await fetch(`${error.ownerUrl}${pathname}${search}`, {
        method: raw.method,
        headers,
        body,
        redirect: 'manual',
        signal: raw.signal,
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
      const out = new Headers(answer.headers);
      for (const name of HOP) out.delete(name);
      out.set(FORWARDED, error.record.owner);
      c.res = new Response(answer.body, { status: answer.status, headers: out });
    } catch (err) {
      // the holder did not answer: the 503 that names it stands (its sessions are paused once it is judged gone)
      log.warn({ err: String(err), session: error.record.id, to: error.ownerUrl }, 'session: forwarding a call to its kiln failed');
    }
  };
}
