import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { connectAddress, RefusedAddress, refusal, safeLookup, type AddressPolicy } from './address-policy.js';
import type { CertificateAuthority } from './ca.js';
import { applyAuth } from './credentials.js';
import { findRule, normalizeHost, type AllowRule } from './host-rules.js';

/** What one execution may reach: its allow-list and the credentials to inject. Never leaves kiln. */
export interface EgressSession {
  executionId: string;
  rules: readonly AllowRule[];
  /** A build's session: its own address policy (a package mirror's address) and TLS trust. */
  policy?: AddressPolicy;
  trust?: string[];
  /** The setting that opens `policy` to an address, named in refusals (default KILN_EGRESS_ALLOW_ADDRESSES). */
  allowSetting?: string;
  /** When present, address refusals are added here (the first few hosts): a build reports them when it fails. */
  refused?: RefusedAddress[];
}

interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

export type EgressDecision = 'allowed' | 'denied_host' | 'refused_address' | 'bad_request' | 'upstream_error';

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

// A DNS name as the allow-list knows them: letters, digits, '-', '_' and dots; nothing a URL would re-read.
const HOST_NAME = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** `host:port` of a CONNECT request (IPv6 in brackets); null unless the host is a plain name or an IP. */
function parseAuthority(authority: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(authority);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) return null;
  const host = normalizeHost(m[1] ?? m[2]!);
  if (m[1] !== undefined ? isIP(host) !== 6 : !HOST_NAME.test(host) && isIP(host) !== 4) return null;
  return { host, port };
}

/**
 * kiln's egress proxy. It listens on no port: each connection the code opens
 * arrives as a Duplex from that execution's tunnel, with its session. Plain
 * HTTP (absolute URLs) is forwarded; CONNECT to an allowed host is answered,
 * TLS inside it is terminated with a leaf of kiln's CA, and every request is
 * sent upstream with the rule's credential injected, to an address the policy
 * allows. A host not in the allow-list gets a 403 that names it, over TLS too
 * (for the first few such hosts of an execution: see DENIED_TLS_HOSTS).
 */
/**
 * Distinct denied hosts per execution that still get their 403 over TLS, which costs kiln a
 * certificate each. Past them a CONNECT to a denied host is refused outright (403), so that a box
 * cycling through made-up host names cannot make kiln mint certificates without end.
 */
export const DENIED_TLS_HOSTS = 8;
const REFUSALS_KEPT = 8;

export function createEgressProxy(deps: {
  ca: CertificateAuthority;
  policy: AddressPolicy;
  log: Logger;
  metrics: Metrics;
  /** Extra CA (PEM) trusted for upstream servers besides the system's. */
  upstreamCa?: string;
}) {
  const { ca, policy, log, metrics } = deps;
  const sessions = new WeakMap<object, EgressSession>();
  const targets = new WeakMap<object, Target>();
  const trust = deps.upstreamCa ? [...tls.rootCertificates, deps.upstreamCa] : undefined;
  const agents = new WeakMap<EgressSession, { http: http.Agent; https: https.Agent }>();
  const deniedTls = new WeakMap<EgressSession, Set<string>>();
  const agentFor = (session: EgressSession, scheme: Target['scheme']) => {
    let pair = agents.get(session);
    if (!pair) {
      pair = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
      agents.set(session, pair);
    }
    return pair[scheme];
  };

  const record = (session: EgressSession, host: string, decision: EgressDecision, status: number, method = 'CONNECT', why?: string) => {
    metrics.egress.inc({ decision });
    log.info({ execution: session.executionId, host, method, decision, status, ...(why ? { why } : {}) }, 'egress');
  };

  function deny(res: ServerResponse, status: number, message: string) {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-kiln-egress': 'denied', connection: 'close' });
    res.end(`kiln egress: ${message}\n`);
  }

  /** The address policy refused the request's host: the box learns that, the log learns the address and why. */
  function refuse(res: ServerResponse, session: EgressSession, refused: RefusedAddress, method?: string) {
    record(session, refused.host, 'refused_address', 403, method, refused.why);
    const kept = session.refused;
    // a box can be refused without end: a few distinct hosts say why a build failed
    if (kept && kept.length < REFUSALS_KEPT && !kept.some((r) => r.host === refused.host)) kept.push(refused);
    deny(res, 403, refused.toCaller(session.allowSetting ?? 'KILN_EGRESS_ALLOW_ADDRESSES'));
  }

  function forward(req: IncomingMessage, res: ServerResponse, session: EgressSession, target: Target, path: string) {
    try {
      send(req, res, session, target, path);
    } catch (err) {
      // whatever the code sent, it must never take kiln down
      log.warn({ err: String(err), execution: session.executionId }, 'egress: request refused');
      record(session, target.host, 'bad_request', 400, req.method);
      if (!res.headersSent) deny(res, 400, 'this request cannot be forwarded');
      else res.destroy();
    }
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
    const addresses = session.policy ?? policy;
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
      ca: target.scheme === 'https' ? (session.trust ?? trust) : undefined,
      // connections are reused only within this execution, never handed to another one
      agent: agentFor(session, target.scheme),
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

  /** Requests inside CONNECT tunnels: the target comes from the CONNECT line. */
  const inner = http.createServer((req, res) => {
    const session = sessions.get(req.socket);
    const target = targets.get(req.socket);
    if (!session || !target) return deny(res, 500, 'lost track of this connection');
    forward(req, res, session, target, req.url ?? '/');
  });

  /** What the code's HTTP client sends to its proxy: absolute URLs and CONNECTs. */
  const front = http.createServer((req, res) => {
    const session = sessions.get(req.socket)!;
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
    forward(req, res, session, { scheme: 'http', host, port: Number(url.port || 80) }, url.pathname + url.search);
  });

  front.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const session = sessions.get(socket)!;
    const authority = parseAuthority(req.url ?? '');
    const reply = (status: string, body = '') =>
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nx-kiln-egress: denied\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    if (!authority) {
      record(session, '-', 'bad_request', 400);
      return reply('400 Bad Request', 'kiln egress: CONNECT needs host:port\n');
    }
    // A CONNECT is accepted and the allow-list applied to the request inside it, so that a denied
    // HTTPS request gets a 403 whose body the client can read (a refused CONNECT's body is hidden);
    // but only for a few denied hosts per execution.
    if (!findRule(session.rules, authority.host)) {
      let hosts = deniedTls.get(session);
      if (!hosts) {
        hosts = new Set();
        deniedTls.set(session, hosts);
      }
      if (!hosts.has(authority.host) && hosts.size >= DENIED_TLS_HOSTS) {
        record(session, authority.host, 'denied_host', 403);
        return reply('403 Forbidden', `kiln egress: ${authority.host} is not in http.allow for this execution\n`);
      }
      hosts.add(authority.host);
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    // TLS or plain HTTP inside the tunnel? The first byte tells: 0x16 opens a TLS handshake.
    socket.once('readable', async () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) return socket.destroy();
      socket.unshift(first);
      if (first[0] !== 0x16) {
        sessions.set(socket, session);
        targets.set(socket, { scheme: 'http', ...authority });
        return inner.emit('connection', socket);
      }
      try {
        const secureContext = await ca.contextFor(authority.host);
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
        secure.on('error', () => secure.destroy());
        sessions.set(secure, session);
        targets.set(secure, { scheme: 'https', ...authority });
        inner.emit('connection', secure);
      } catch (err) {
        log.error({ err, host: authority.host }, 'egress: could not mint a certificate');
        socket.destroy();
      }
    });
  });

  for (const server of [front, inner]) server.on('clientError', (_err, socket) => socket.destroy());

  return {
    /** Serves one tunnelled connection of the execution that `session` describes. */
    serve(socket: Duplex, session: EgressSession): void {
      sessions.set(socket, session);
      front.emit('connection', socket);
    },
    /** The execution is over: close its upstream connections. */
    end(session: EgressSession): void {
      const pair = agents.get(session);
      pair?.http.destroy();
      pair?.https.destroy();
      agents.delete(session);
    },
  };
}

export type EgressProxy = ReturnType<typeof createEgressProxy>;
