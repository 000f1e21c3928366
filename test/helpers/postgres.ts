/**
 * The PostgreSQL the tests use: KILN_TEST_DATABASE_URL, or the one `npm run setup` makes (a `kiln`
 * role and a `kiln_test` database on the local cluster).
 */
export function testDatabaseUrl(): string {
  return process.env.KILN_TEST_DATABASE_URL || 'postgres://kiln:kiln@127.0.0.1:5432/kiln_test';
}

import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** The database goes away: every connection through the proxy is cut, and new ones are refused. */
  cut(): Promise<void>;
  /** It comes back. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to `target`, to take a database away from kiln and give it back. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const stop = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
  return { port, cut: stop, restore: () => listen(port), close: stop };
}
