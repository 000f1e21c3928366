import http from 'node:http';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { AddressPolicy } from './address-policy.js';
import type { CertificateAuthority } from './ca.js';
import { createConnectHandler } from './connect.js';
import { createForwarder, deny } from './forward.js';
import { normalizeHost } from './host-rules.js';
import { createSessionStates, decisionRecorder, type EgressSession, type Target, TOOLS_HOST } from './session.js';

export { DENIED_TLS_HOSTS, type EgressDecision, type EgressSession } from './session.js';

/**
 * kiln's egress proxy. It listens on no port: each connection the code opens
 * arrives as a Duplex from that execution's tunnel, with its session. Plain
 * HTTP (absolute URLs) is forwarded; CONNECT to an allowed host is answered,
 * TLS inside it is terminated with a leaf of kiln's CA, and every request is
 * sent upstream with the rule's credential injected, to an address the policy
 * allows. A host not in the allow-list gets a 403 that names it, over TLS too
 * (for the first few such hosts of an execution: see DENIED_TLS_HOSTS).
 */
export function createEgressProxy(deps: {
  ca: CertificateAuthority;
  policy: AddressPolicy;
  log: Logger;
  metrics: Metrics;
  /** Extra CA (PEM) trusted for upstream servers besides the system's. */
  upstreamCa?: string;
}) {
  const { log } = deps;
  /** Each connection's session, and, inside a tunnel, where its requests go. */
  const connections = new WeakMap<object, { session: EgressSession; target?: Target }>();
  const sessions = createSessionStates();
  const record = decisionRecorder(log, deps.metrics);
  const forward = createForwarder({
    policy: deps.policy,
    log,
    record,
    agentFor: sessions.agentFor,
    trust: deps.upstreamCa ? [...tls.rootCertificates, deps.upstreamCa] : undefined,
  });

  /** The execution's tools: answered here, in kiln, never forwarded (and refused to one given none). */
  function answerTools(req: http.IncomingMessage, res: http.ServerResponse, session: EgressSession, scheme: Target['scheme']) {
    if (session.tools && scheme === 'http') {
      try {
        return session.tools.handle(req, res);
      } catch (err) {
        // whatever a box sends, kiln answers it and goes on
        log.error({ err, execution: session.executionId }, 'egress: a tool call could not be handled');
        return deny(res, 400, 'kiln could not read that tool call');
      }
    }
    record(session, TOOLS_HOST, 'denied_host', 403, req.method);
    deny(
      res,
      403,
      session.tools ? `call http://${TOOLS_HOST}/, not https` : 'this execution was given no tools (ask for them with "tools": [...])',
    );
  }

  /** Requests inside CONNECT tunnels: the target comes from the CONNECT line. */
  const inner = http.createServer((req, res) => {
    const connection = connections.get(req.socket);
    if (!connection?.target) return deny(res, 500, 'lost track of this connection');
    if (connection.target.host === TOOLS_HOST) return answerTools(req, res, connection.session, connection.target.scheme);
    forward(req, res, connection.session, connection.target, req.url ?? '/');
  });

  /** What the code's HTTP client sends to its proxy: absolute URLs and CONNECTs. */
  const front = http.createServer((req, res) => {
    const { session } = connections.get(req.socket)!;
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      record(session, '-', 'bad_request', 400, req.method);
      return deny(res, 400, 'send absolute http:// URLs, or CONNECT, to this proxy');
    }
    if (url.protocol !== 'http:') {
      record(session, url.hostname, 'bad_request', 400, req.method);
      return deny(res, 400, `${url.protocol} URLs go through CONNECT, not as plain requests`);
    }
    const host = normalizeHost(url.hostname);
    if (host === TOOLS_HOST) return answerTools(req, res, session, 'http');
    forward(req, res, session, { scheme: 'http', host, port: Number(url.port || 80) }, url.pathname + url.search);
  });

  front.on(
    'connect',
    createConnectHandler({
      ca: deps.ca,
      log,
      record,
      sessionOf: (socket) => connections.get(socket)!.session,
      mayTunnelDenied: sessions.mayTunnelDenied,
      serveInner(socket: Duplex, session: EgressSession, target: Target) {
        connections.set(socket, { session, target });
        inner.emit('connection', socket);
      },
    }),
  );

  for (const server of [front, inner]) server.on('clientError', (_err, socket) => socket.destroy());

  return {
    /** Serves one tunnelled connection of the execution that `session` describes. */
    serve(socket: Duplex, session: EgressSession): void {
      connections.set(socket, { session });
      front.emit('connection', socket);
    },
    /** The execution is over: close its upstream connections. */
    end: sessions.end,
  };
}

export type EgressProxy = ReturnType<typeof createEgressProxy>;
