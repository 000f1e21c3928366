import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A unix-socket relay in front of the real Docker engine, for tests: cut it (an outage, no mocks),
 * restore it, or freeze it (API requests wait; hijacked attach streams of running boxes keep flowing).
 */
export function dockerRelay(path: string) {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let frozen = false;
  const held: (() => void)[] = [];
  return {
    up: () =>
      new Promise<void>((resolve) => {
        rmSync(path, { force: true });
        server = createServer((client) => {
          const upstream = createConnection('/var/run/docker.sock');
          let hijacked = false;
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => {});
          }
          upstream.on('data', (d: Buffer) => {
            if (d.subarray(0, 32).toString().startsWith('HTTP/1.1 101')) hijacked = true; // an attach stream from now on
            client.write(d);
          });
          client.on('data', (d: Buffer) => {
            if (frozen && !hijacked) held.push(() => upstream.write(d));
            else upstream.write(d);
          });
          client.on('end', () => upstream.end());
          upstream.on('end', () => client.end());
        }).listen(path, resolve);
      }),
    down: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server ? server.close(() => resolve()) : resolve();
      }),
    /** From now on, API requests wait; attach streams keep flowing. */
    freeze: () => {
      frozen = true;
    },
    /** Sends what waited; returns how many writes had been held. */
    thaw: () => {
      frozen = false;
      const count = held.length;
      for (const send of held.splice(0)) send();
      return count;
    },
  };
}
