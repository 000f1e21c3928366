/**
 * Decodes the wrapper's frames (kind byte + 4-byte big-endian length +
 * payload; see runtimes/wrapper.py) and keeps stdout and stderr up to
 * a cap. Pure and synchronous so that it is unit-tested byte by byte.
 */
export interface ExitStatus {
  exit_code: number;
  oom: boolean;
}

export interface OutputLimits {
  /** Bytes kept of stdout, and of stderr. */
  streamBytes: number;
  /** Largest result frame (the JSON return value). */
  resultBytes: number;
}

export type Violation = 'output_limit' | 'protocol';

/**
 * Kinds: o = stdout, e = stderr, r = result, x = exit status, k = ready (the harness is warm and
 * waiting: the first frame of every box, empty), t = taken (the harness took the request; no code
 * runs before kiln has this frame; empty), and the tunnel's. Frames of tunnelled egress
 * connections: c = opened, d = data, f = closed; payload starts with a 4-byte id.
 */
export type TunnelKind = 'c' | 'd' | 'f';
export type TunnelListener = (kind: TunnelKind, id: number, data: Buffer) => void;

/** One frame in the wrapper protocol: kind byte + 4-byte big-endian length + payload. */
export function encodeFrame(kind: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(kind, 0, 'latin1');
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

class CappedText {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  /** Returns false once the cap is passed. */
  append(data: Buffer): boolean {
    const room = this.cap - this.size;
    if (data.length > room) {
      this.truncated = true;
      data = data.subarray(0, Math.max(room, 0));
    }
    if (data.length) {
      this.chunks.push(data);
      this.size += data.length;
    }
    return !this.truncated;
  }
  text(): string {
    return Buffer.concat(this.chunks, this.size).toString('utf8');
  }
}

export class FrameDecoder {
  readonly stdout: CappedText;
  readonly stderr: CappedText;
  result: Buffer | null = null;
  exit: ExitStatus | null = null;
  /** Set once the box broke a limit or the protocol; the caller stops it. */
  violation: Violation | null = null;
  /** Whether the wrapper has said anything about this request (`t`: the harness took it; any output). */
  sawFrames = false;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(
    private readonly limits: OutputLimits,
    private readonly onTunnel?: TunnelListener,
    /**
     * Takes each stdout (`o`) and stderr (`e`) payload instead of the decoder keeping it (a build's
     * log keeps its own bounded tail, and watches for its marker).
     */
    private readonly onOutput?: (kind: 'o' | 'e', data: Buffer) => void,
  ) {
    this.stdout = new CappedText(limits.streamBytes);
    this.stderr = new CappedText(limits.streamBytes);
  }

  /** Feeds bytes the wrapper wrote to the container's stdout. */
  push(chunk: Buffer): void {
    if (this.violation) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 5 && !this.violation) {
      const head = this.peek(5);
      const kind = String.fromCharCode(head[0]!);
      const length = head.readUInt32BE(1);
      const max = kind === 'r' ? this.limits.resultBytes : kind === 'x' ? 4096 : kind === 'k' || kind === 't' ? 0 : 1 << 20;
      if (!'oerxcdfkt'.includes(kind)) {
        this.fail('protocol');
        return;
      }
      if (length > max) {
        this.fail(kind === 'r' ? 'output_limit' : 'protocol');
        return;
      }
      if (this.buffered < 5 + length) return;
      this.handle(kind, this.take(5 + length).subarray(5));
    }
  }

  /** Bytes on the container's own stderr come from the wrapper itself (it crashed): keep them for the user. */
  pushWrapperStderr(chunk: Buffer): void {
    if (!this.violation && !this.stderr.append(chunk)) this.fail('output_limit');
  }

  private handle(kind: string, payload: Buffer): void {
    // k: the harness was ready, before any request: not a sign that anything ran
    if (kind === 'k') return;
    // t (and every frame after it): the harness took the request, so the code may have run; a box
    // that dies from here on died of its code (under gVisor, the code can even kill PID 1)
    this.sawFrames = true;
    if ((kind === 'o' || kind === 'e') && this.onOutput) this.onOutput(kind, payload);
    else if (kind === 'o' && !this.stdout.append(payload)) this.fail('output_limit');
    else if (kind === 'e' && !this.stderr.append(payload)) this.fail('output_limit');
    else if (kind === 'r') this.result = payload;
    else if (kind === 'c' || kind === 'd' || kind === 'f') {
      if (payload.length < 4 || !this.onTunnel) {
        this.fail('protocol');
        return;
      }
      this.onTunnel(kind, payload.readUInt32BE(0), payload.subarray(4));
    } else if (kind === 'x') {
      try {
        const parsed = JSON.parse(payload.toString('utf8')) as Partial<ExitStatus>;
        const code = parsed.exit_code;
        if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 255) {
          this.fail('protocol');
          return;
        }
        this.exit = { exit_code: code, oom: parsed.oom === true };
      } catch {
        this.fail('protocol');
      }
    }
  }

  private fail(violation: Violation): void {
    this.violation = violation;
    this.chunks = [];
    this.buffered = 0;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    return first.length >= n ? first : Buffer.concat(this.chunks).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }
}
