// kiln's end of the egress tunnel: wrapper frames in, Duplex streams out, and back.
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../../src/sandbox/box-protocol.js';
import { createTunnel } from '../../../src/sandbox/tunnel.js';

const id = (n: number) => Buffer.from([0, 0, 0, n]);

function setup(maxChannels = 4) {
  const sent: Buffer[] = [];
  const opened: Duplex[] = [];
  const tunnel = createTunnel({ send: (f) => sent.push(f), open: (c) => opened.push(c), maxChannels });
  return { sent, opened, tunnel };
}

describe('egress tunnel', () => {
  it('opens a stream per connection, carries data both ways, and closes', async () => {
    const { sent, opened, tunnel } = setup();
    tunnel.onFrame('c', 7, Buffer.alloc(0));
    expect(opened).toHaveLength(1);
    const channel = opened[0]!;
    const received: Buffer[] = [];
    channel.on('data', (d: Buffer) => received.push(d));
    tunnel.onFrame('d', 7, Buffer.from('GET / HTTP/1.1\r\n'));
    tunnel.onFrame('f', 7, Buffer.alloc(0));
    await new Promise((r) => channel.once('end', r));
    expect(Buffer.concat(received).toString()).toBe('GET / HTTP/1.1\r\n');
    channel.end('HTTP/1.1 200 OK\r\n');
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([encodeFrame('d', Buffer.concat([id(7), Buffer.from('HTTP/1.1 200 OK\r\n')])), encodeFrame('f', id(7))]);
  });

  it('refuses connections past the limit with an immediate close', () => {
    const { sent, opened, tunnel } = setup(1);
    tunnel.onFrame('c', 1, Buffer.alloc(0));
    tunnel.onFrame('c', 2, Buffer.alloc(0));
    expect(opened).toHaveLength(1);
    expect(sent).toEqual([encodeFrame('f', id(2))]);
  });

  it('closes everything when the run ends, once per connection', () => {
    const { sent, tunnel } = setup();
    tunnel.onFrame('c', 1, Buffer.alloc(0));
    tunnel.onFrame('c', 2, Buffer.alloc(0));
    tunnel.closeAll();
    tunnel.closeAll();
    expect(sent).toEqual([encodeFrame('f', id(1)), encodeFrame('f', id(2))]);
  });

  it('ignores data for connections it does not know', () => {
    const { sent, opened, tunnel } = setup();
    tunnel.onFrame('d', 9, Buffer.from('x'));
    tunnel.onFrame('f', 9, Buffer.alloc(0));
    expect(opened).toEqual([]);
    expect(sent).toEqual([]);
  });
});
