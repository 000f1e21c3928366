import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookReceiver {
  port: number;
  /** Every delivery, in order: its headers and its raw body (what a signature covers). */
  received: { headers: Record<string, string>; body: string }[];
  /** Answers the next `n` deliveries with a 500, to make kiln retry. */
  failNext(n: number): void;
  close(): void;
}

/** A webhook receiver on 127.0.0.1 that keeps what it is sent, for checking with standardwebhooks. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers as Record<string, string>, body });
      res.statusCode = failures-- > 0 ? 500 : 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, received, failNext: (n) => (failures = n), close: () => server.close() };
}
