import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { allows, type KeyOfRequest, keyOfRequest, type Principal } from '../../access/scopes.js';
import { bearerKey } from '../auth.js';
import type { WorkerHub } from '../../iii/worker-hub.js';

/** Where iii workers connect: `ws://<kiln>/iii` (and `/iii/otel`, the SDK's telemetry socket). */
export const WORKER_PATH = '/iii';

/**
 * The iii engine's WebSocket endpoint on kiln's own HTTP server. A worker authenticates with a
 * kiln key, as `Authorization: Bearer <key>` (iii-sdk's `headers` option) or `?token=<key>` in
 * the URL (which the SDK's telemetry socket keeps too); an upgrade without a valid key is refused
 * with 401 before any frame. The telemetry socket is accepted and its frames dropped.
 */
export function attachWorkerSocket(
  server: Server,
  deps: {
    workers: WorkerHub;
    authenticate: (key: string | undefined) => Promise<Principal | null>;
    log: Logger;
    maxResultBytes: number;
  },
) {
  // a frame may carry a result up to the result limit, with room for its envelope
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxResultBytes + 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://kiln');
    if (url.pathname !== WORKER_PATH && url.pathname !== `${WORKER_PATH}/otel`) return void socket.destroy();
    const refuse = (status: string, text: string, extra = '') =>
      socket.end(
        `HTTP/1.1 ${status}\r\n${extra}Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
    const upgrade = (project: string, key: KeyOfRequest) => {
      // a place for the worker before the upgrade is answered: a burst of connections cannot pass the
      // cap between the check and the attach; the socket's close (whenever it comes) gives it back
      const leave = url.pathname === WORKER_PATH ? deps.workers.reserve(project) : () => {};
      if (!leave) return refuse('429 Too Many Requests', 'this project has its most iii workers connected', 'Retry-After: 5\r\n');
      socket.once('close', leave);
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (url.pathname === WORKER_PATH) return deps.workers.attach(ws, project, key);
        ws.on('message', () => {}); // telemetry kiln does not collect
        ws.on('error', () => {});
      });
    };
    void deps.authenticate(bearerKey(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined).then(
      (principal) => {
        if (principal === null) return refuse('401 Unauthorized', '', 'WWW-Authenticate: Bearer realm="kiln"\r\n');
        // a worker registers functions, which run as the project's: what a key that manages them may do
        if (!allows(principal, 'manage')) return refuse('403 Forbidden', 'this key lacks the manage scope');
        upgrade(principal.project, keyOfRequest(principal));
      },
      () => socket.destroy(),
    );
  });
  return { close: () => wss.close() };
}
