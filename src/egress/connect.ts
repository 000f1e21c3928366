import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateAuthority } from './ca.js';
import { findRule, normalizeHost } from './host-rules.js';
import { type EgressSession, type RecordDecision, type Target, TOOLS_HOST } from './session.js';

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

/** A refusal written on the raw socket: a CONNECT that is not accepted has no HTTP response object. */
function reply(socket: Duplex, status: string, body = '') {
  socket.end(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nx-kiln-egress: denied\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * CONNECT: the tunnel is accepted and the allow-list applied to the requests inside it, so that a
 * denied HTTPS request gets a 403 whose body the client can read (a refused CONNECT's body is
 * hidden), but only for a few denied hosts per execution. TLS inside is terminated with a leaf of
 * kiln's CA; plain HTTP inside is served as is. Either way the connection goes on to `inner`.
 */
export function createConnectHandler(deps: {
  ca: CertificateAuthority;
  log: Logger;
  record: RecordDecision;
  sessionOf: (socket: Duplex) => EgressSession;
  mayTunnelDenied: (session: EgressSession, host: string) => boolean;
  /** Serves the requests of a tunnelled connection, which goes to `target`. */
  serveInner: (socket: Duplex, session: EgressSession, target: Target) => void;
}) {
  /** TLS or plain HTTP inside the tunnel? The first byte tells: 0x16 opens a TLS handshake. */
  async function open(socket: Duplex, session: EgressSession, authority: { host: string; port: number }) {
    const first = socket.read(1) as Buffer | null;
    if (!first) return socket.destroy();
    socket.unshift(first);
    if (first[0] !== 0x16) return deps.serveInner(socket, session, { scheme: 'http', ...authority });
    try {
      const secureContext = await deps.ca.contextFor(authority.host);
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
      secure.on('error', () => secure.destroy());
      deps.serveInner(secure, session, { scheme: 'https', ...authority });
    } catch (err) {
      deps.log.error({ err, host: authority.host }, 'egress: could not mint a certificate');
      socket.destroy();
    }
  }

  return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const session = deps.sessionOf(socket);
    const authority = parseAuthority(req.url ?? '');
    if (!authority) {
      deps.record(session, '-', 'bad_request', 400);
      return reply(socket, '400 Bad Request', 'kiln egress: CONNECT needs host:port\n');
    }
    // (the execution's tools are answered inside the tunnel: Node's fetch tunnels plain http too)
    const tools = authority.host === TOOLS_HOST && session.tools !== undefined;
    if (!tools && !findRule(session.rules, authority.host) && !deps.mayTunnelDenied(session, authority.host)) {
      deps.record(session, authority.host, 'denied_host', 403);
      return reply(socket, '403 Forbidden', `kiln egress: ${authority.host} is not in http.allow for this execution\n`);
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) socket.unshift(head);
    socket.once('readable', () => void open(socket, session, authority));
  };
}
