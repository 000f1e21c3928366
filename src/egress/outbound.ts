import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { connectAddress, RefusedAddress, refusal, safeLookup, type AddressPolicy } from './address-policy.js';

export interface OutboundAnswer {
  status: number;
  contentType: string | null;
  body: Buffer;
  /** The answer was longer than maxResponseBytes: `body` is its start, and the rest was not read. */
  truncated: boolean;
}

/**
 * A POST kiln itself makes (a webhook, an iii HTTP function), connecting only where the address
 * policy allows: names through `safeLookup` (checked on the resolved address, so DNS rebinding is
 * refused too), address literals here (Node never looks them up). No redirects are followed.
 * Rejects with a RefusedAddress for a forbidden address (a literal, or what a name resolved to), so
 * that callers tell a refusal (final) from a network failure (worth a retry) by its type.
 */
export function outboundPost(
  url: URL,
  body: string,
  headers: Record<string, string>,
  policy: AddressPolicy,
  opts: { timeoutMs: number; maxResponseBytes: number; method?: string },
): Promise<OutboundAnswer> {
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const why = refusal(host, port, policy);
    if (why) return Promise.reject(new RefusedAddress(host, why));
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: opts.method ?? 'POST',
        headers: { host: url.host, ...headers, 'content-length': Buffer.byteLength(body) },
        // a literal is connected to as the policy checked it (an embedded IPv4 address as itself)
        ...(isIP(host) ? { hostname: connectAddress(host) } : {}),
        lookup: safeLookup(policy, port),
        timeout: opts.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const answer = (truncated: boolean) =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? null,
            body: Buffer.concat(chunks),
            truncated,
          });
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= opts.maxResponseBytes) return void chunks.push(chunk);
          answer(true);
          res.destroy();
        });
        res.on('end', () => answer(false));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs / 1000} s`)));
    // safeLookup's RefusedAddress reaches here as it was thrown (Node does not wrap a lookup's error)
    req.on('error', reject);
    req.end(body);
  });
}
