import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono, type MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { executionContext, type AppEnv } from '../context.js';
import { asksForProgress } from './progress.js';
import { createMcpServer, type McpDeps } from './server.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * DNS-rebinding protection, as the MCP spec requires: a request with an Origin is served only for
 * a loopback origin or one configured (`*` admits any). Agents and servers send no Origin.
 */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false; // "null" (a sandboxed page, a file) and anything else that is no origin
  }
}

const rpcError = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

/** Origin check and CORS for browser clients; runs before auth (a preflight carries no key). */
export function mcpOrigin(allowed: readonly string[]): MiddlewareHandler<AppEnv> {
  const corsHeaders = cors({
    origin: (origin) => (originAllowed(origin, allowed) ? origin : null),
    allowMethods: ['POST'],
    allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'Mcp-Protocol-Version', 'Mcp-Session-Id', 'Last-Event-Id'],
    exposeHeaders: ['Mcp-Session-Id', 'WWW-Authenticate'],
  });
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin !== undefined && !originAllowed(origin, allowed))
      return rpcError(
        403,
        -32000,
        `Forbidden: Origin ${JSON.stringify(origin.slice(0, 200))} is not allowed (set KILN_MCP_ALLOWED_ORIGINS to admit it)`,
      );
    return corsHeaders(c, next);
  };
}

/**
 * /mcp: MCP's Streamable HTTP transport, stateless, answering JSON (no session; SSE only for a
 * `tools/call` with a progress token, see ./progress.ts). Each POST gets its own server bound to
 * the caller's project. GET (an SSE stream) and DELETE (a
 * session's end) have nothing to serve here: mcpMethodNotAllowed answers them 405, as the spec has it.
 */
export const mcpMethodNotAllowed = () =>
  rpcError(405, -32000, 'Method not allowed: kiln serves MCP statelessly; POST JSON-RPC messages to /mcp', { Allow: 'POST, OPTIONS' });

/** `body` as it is, calling `done` once when it has ended or its reader has gone. */
function closingWith(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let closed = false;
  const finish = () => {
    if (!closed) done();
    closed = true;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) {
        controller.close();
        finish();
      } else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      finish();
    },
  });
}

export function mcpRoutes(deps: McpDeps & { maxBodyBytes: number }) {
  const app = new Hono<AppEnv>();
  app.post('/mcp', async (c) => {
    // Read here, not by the transport: a body that is no JSON, or an empty batch, is answered as
    // JSON-RPC says (the size was checked before auth let the request in).
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return rpcError(400, -32700, 'Parse error: the body is not JSON');
    }
    if (Array.isArray(body) && body.length === 0) return rpcError(400, -32600, 'Invalid Request: an empty batch');
    let request = c.req.raw;
    // The answer is always JSON, so a client that accepts JSON but does not also name SSE (as the
    // spec asks it to) is served rather than refused with a 406.
    const accept = request.headers.get('accept') ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      const headers = new Headers(request.headers);
      headers.set('accept', 'application/json, text/event-stream');
      request = new Request(request.url, { method: 'POST', headers });
    }
    const server = createMcpServer(deps, c.get('principal'), executionContext(c, deps.maxBodyBytes));
    // a call that asked for progress is answered over SSE (its notifications, then its result)
    const streamed = asksForProgress(body);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: !streamed,
      maxRequestBodySize: deps.maxBodyBytes,
    });
    await server.connect(transport);
    let answer: Response;
    try {
      answer = await transport.handleRequest(request, { parsedBody: body });
    } catch (error) {
      await server.close();
      throw error;
    }
    // the JSON answer is complete: nothing of this request's server is needed any more; a stream's
    // server lives until the stream has said all (or its client has gone)
    if (!streamed || !answer.body) {
      await server.close();
      return answer;
    }
    return new Response(
      closingWith(answer.body, () => void server.close()),
      { status: answer.status, headers: answer.headers },
    );
  });
  return app;
}
