import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { connectAddress, RefusedAddress, refusal, safeLookup, type AddressPolicy } from './address-policy.js';
import { applyAuth } from './credentials.js';
import { findRule } from './host-rules.js';
import type { EgressSession, RecordDecision, Target } from './session.js';

// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus the proxy's own.
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  const named = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  for (const h of [...HOP_BY_HOP, ...named]) delete out[h];
  return out;
}

const REFUSALS_KEPT = 8;

/** The proxy's own answer (the box reads it: it says why), never the upstream's. */
export function deny(res: ServerResponse, status: number, message: string) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-kiln-egress': 'denied', connection: 'close' });
  res.end(`kiln egress: ${message}\n`);
}

/**
 * Sends one request of the code upstream: to an allowed host only, with the rule's credential
 * injected, to an address the policy allows, over a connection of this execution's own.
 */
export function createForwarder(deps: {
  policy: AddressPolicy;
  log: Logger;
  record: RecordDecision;
  agentFor: (session: EgressSession, scheme: Target['scheme']) => http.Agent;
  /** The CAs trusted for upstream servers; undefined: the system's. */
  trust?: string[];
}) {
  const { log, record } = deps;

  /** The address policy refused the request's host: the box learns that, the log learns the address and why. */
  function refuse(res: ServerResponse, session: EgressSession, refused: RefusedAddress, method?: string) {
    record(session, refused.host, 'refused_address', 403, method, refused.why);
    const kept = session.refused;
    // a box can be refused without end: a few distinct hosts say why a build failed
    if (kept && kept.length < REFUSALS_KEPT && !kept.some((r) => r.host === refused.host)) kept.push(refused);
    deny(res, 403, refused.toCaller(session.allowSetting ?? 'KILN_EGRESS_ALLOW_ADDRESSES'));
  }

  function send(req: IncomingMessage, res: ServerResponse, session: EgressSession, target: Target, path: string) {
    if (req.method === 'TRACE' || req.method === 'CONNECT') {
      // TRACE would echo the injected credential back into the box
      record(session, target.host, 'bad_request', 405, req.method);
      return deny(res, 405, `${req.method} is not forwarded`);
    }
    const rule = findRule(session.rules, target.host);
    if (!rule) {
      record(session, target.host, 'denied_host', 403, req.method);
      return deny(res, 403, `${target.host} is not in http.allow for this execution`);
    }
    // Node connects to an IP literal without calling `lookup`: the policy must be applied here for those.
    const addresses = session.policy ?? deps.policy;
    const literalRefusal = isIP(target.host) ? refusal(target.host, target.port, addresses) : null;
    if (literalRefusal) return refuse(res, session, new RefusedAddress(target.host, literalRefusal), req.method);
    const hostPart = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
    const url = new URL(`${target.scheme}://${hostPart}:${target.port}${path.startsWith('/') ? path : `/${path}`}`);
    const headers = withoutHopByHop(req.headers);
    // A body without Content-Length goes on chunked, framed as such: never raw bytes after a GET that
    // the upstream would read as a second request (smuggling).
    if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined)
      headers['transfer-encoding'] = 'chunked';
    headers.host = url.host;
    applyAuth(rule.auth, url, headers);
    const upstream = (target.scheme === 'https' ? https : http).request({
      protocol: `${target.scheme}:`,
      // a literal is connected to as the policy checked it (an embedded IPv4 address as itself)
      hostname: isIP(target.host) ? connectAddress(target.host) : target.host,
      port: target.port,
      method: req.method,
      path: url.pathname + url.search,
      headers,
      lookup: safeLookup(addresses, target.port),
      servername: isIP(target.host) ? undefined : target.host,
      ca: target.scheme === 'https' ? (session.trust ?? deps.trust) : undefined,
      agent: deps.agentFor(session, target.scheme),
      timeout: 30_000,
    });
    // the code went away: so does the upstream request
    res.on('close', () => upstream.destroy());
    upstream.on('response', (up) => {
      record(session, target.host, 'allowed', up.statusCode ?? 0, req.method);
      res.writeHead(up.statusCode ?? 502, up.statusMessage, withoutHopByHop(up.headers));
      up.pipe(res);
    });
    upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('upstream timed out'), { code: 'ETIMEDOUT' })));
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof RefusedAddress) return refuse(res, session, error, req.method);
      record(session, target.host, 'upstream_error', 502, req.method);
      // the code (never its proxy credentials) sees the reason, as a client of a direct request would
      deny(res, 502, `could not reach ${target.host}:${target.port}: ${error.code ?? error.message}`);
    });
    req.pipe(upstream);
  }

  return function forward(req: IncomingMessage, res: ServerResponse, session: EgressSession, target: Target, path: string) {
    try {
      send(req, res, session, target, path);
    } catch (err) {
      // whatever the code sent, it must never take kiln down
      log.warn({ err: String(err), execution: session.executionId }, 'egress: request refused');
      record(session, target.host, 'bad_request', 400, req.method);
      if (!res.headersSent) deny(res, 400, 'this request cannot be forwarded');
      else res.destroy();
    }
  };
}
