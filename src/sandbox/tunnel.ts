import { Duplex } from 'node:stream';
import { encodeFrame, type TunnelKind } from './box-protocol.js';

/** Bytes one connection may have waiting in kiln on their way out; past it, the connection is closed. */
const MAX_BUFFERED = 8 * 1024 * 1024;

const idBytes = (id: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(id);
  return b;
};

/** One connection the code opened to the in-box proxy port, seen from kiln: a Duplex over the wrapper's frames. */
class Channel extends Duplex {
  private closedByUs = false;
  constructor(
    private readonly id: number,
    private readonly send: (frame: Buffer) => void,
  ) {
    super({ allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.send(encodeFrame('d', Buffer.concat([idBytes(this.id), chunk])));
    done();
  }
  override _final(done: () => void): void {
    this.finishOnce();
    done();
  }
  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.finishOnce();
    done(error);
  }
  private finishOnce(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.send(encodeFrame('f', idBytes(this.id)));
  }
  // Node's HTTP server calls these on sockets it is handed; a tunnel has nothing to tune.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
}

/**
 * kiln's end of the egress tunnel of one execution: turns the wrapper's c/d/f
 * frames into Duplex streams handed to the proxy, at most `maxChannels` at once.
 */
export function createTunnel(opts: { send: (frame: Buffer) => void; open: (channel: Duplex) => void; maxChannels: number }) {
  const channels = new Map<number, Channel>();
  return {
    onFrame(kind: TunnelKind, id: number, data: Buffer): void {
      if (kind === 'c') {
        if (channels.has(id) || channels.size >= opts.maxChannels) {
          opts.send(encodeFrame('f', idBytes(id))); // refused: the code sees the connection close
          return;
        }
        const channel = new Channel(id, opts.send);
        channels.set(id, channel);
        channel.on('close', () => channels.delete(id));
        channel.on('error', () => channel.destroy());
        opts.open(channel);
      } else if (kind === 'd') {
        const channel = channels.get(id);
        if (!channel) return;
        // what the code sends faster than the upstream takes it is buffered here: bounded
        if (channel.readableLength + data.length > MAX_BUFFERED) return void channel.destroy();
        channel.push(data);
      } else channels.get(id)?.push(null);
    },
    /** Ends every connection (the run is over). */
    closeAll(): void {
      for (const channel of channels.values()) channel.destroy();
      channels.clear();
    },
  };
}

/**
 * The tunnel of one box: connections its code opens arrive at `open` (kiln's egress proxy, bound
 * to the run's session). A box that does not read what kiln sends it must not fill kiln's memory:
 * past the bound, its tunnelled connections are closed and nothing more is sent to them.
 */
export function tunnelFor(
  sandbox: { send(data: Buffer): void; pendingBytes(): number },
  open: (channel: Duplex) => void,
  maxChannels: number,
) {
  let overflowed = false;
  const tunnel = createTunnel({
    send: (frame) => {
      if (overflowed) return;
      if (sandbox.pendingBytes() <= 32 * 1024 * 1024) return sandbox.send(frame);
      overflowed = true;
      tunnel.closeAll();
    },
    open,
    maxChannels,
  });
  return tunnel;
}
