/**
 * The frames a box writes, decoded (src/sandbox/box-protocol.ts): stdout and stderr kept within
 * caps (and streamed as kept), the result, the exit status, a one-shot run's output files, and a
 * session's results and harness ends. Pure and synchronous: unit-tested byte by byte. The attached
 * box around it is ./box-session.ts.
 */
import {
  FRAME_HEADER_BYTES,
  type FrameKind,
  frameKind,
  PROCESS_ID_BYTES,
  type ProcessKind,
  TUNNEL_ID_BYTES,
  type TunnelKind,
  type TunnelListener,
  type Violation,
} from './box-protocol.js';

/** What a session box's decoder tells as it comes (see FrameDecoder). */
export interface SessionListener {
  result(payload: Buffer): void;
  harnessEnded(exit: ExitStatus): void;
  process?(kind: ProcessKind, id: number, data: Buffer): void;
}

/**
 * The bytes of a stream, kept up to a cap: its head (a run's stdout and stderr: what comes past
 * the cap is dropped) or its tail (a build's log: what came first is dropped).
 */
export class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes were dropped. */
  truncated = false;
  constructor(
    private readonly cap: number,
    private readonly keep: 'head' | 'tail' = 'head',
  ) {}
  /** How many more bytes it keeps (of a head-kept buffer; a tail-kept one keeps all, dropping its oldest). */
  room(): number {
    return this.keep === 'head' ? Math.max(this.cap - this.size, 0) : Number.POSITIVE_INFINITY;
  }

  /** Returns false once bytes have been dropped. */
  append(data: Buffer): boolean {
    if (this.keep === 'head' && data.length > this.cap - this.size) {
      this.truncated = true;
      data = data.subarray(0, Math.max(this.cap - this.size, 0));
    }
    if (data.length) {
      this.chunks.push(data);
      this.size += data.length;
    }
    while (this.keep === 'tail' && this.size > this.cap) {
      this.truncated = true;
      const first = this.chunks[0]!;
      const drop = Math.min(first.length, this.size - this.cap);
      if (drop === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(drop);
      this.size -= drop;
    }
    return !this.truncated;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
}

export interface ExitStatus {
  exit_code: number;
  oom: boolean;
}

export interface OutputLimits {
  /** Bytes kept of stdout, and of stderr. */
  streamBytes: number;
  /** Largest result frame (the JSON return value). */
  resultBytes: number;
  /** The output files a one-shot run may give back (the request told the wrapper these); none when unset. */
  files?: { count: number; bytes: number };
}

/** A file a one-shot run left in its output directory. */
export interface OutputFile {
  path: string;
  data: Buffer;
}

/** The longest output file path kiln takes (the frame's bound allows this much past the bytes). */
const OUTPUT_PATH_BYTES = 1024;

/** An output file's path as the wrapper sent it: relative, UTF-8, no NUL, no `..`; null if not. */
function outputPath(raw: Buffer): string | null {
  const path = raw.toString('utf8');
  if (!path || raw.length > OUTPUT_PATH_BYTES || path.includes('\uFFFD') || path.startsWith('/')) return null;
  return path.split('/').every((part) => part && part !== '.' && part !== '..') ? path : null;
}

/** Decodes the frames a box writes, keeping stdout and stderr within caps. Pure and synchronous: unit-tested byte by byte. */
export class FrameDecoder {
  readonly stdout: CappedBuffer;
  readonly stderr: CappedBuffer;
  result: Buffer | null = null;
  exit: ExitStatus | null = null;
  /** A one-shot run's output files, and whether the wrapper left some out (past the bounds). */
  readonly files: OutputFile[] = [];
  filesTruncated = false;
  private fileBytes = 0;
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
     * Takes each stdout (`o`) and stderr (`e`) payload, and the wrapper's own stderr, instead of the
     * decoder keeping them (a build's log keeps its own tail, and watches for its marker).
     */
    private readonly onOutput?: (kind: 'o' | 'e', data: Buffer) => void,
    /**
     * A session box: each result (`r`) and each end of its harness (`h`) as it comes, instead of the
     * one result; and its processes' frames (`P`, `O`, `E`, `X`), by the id kiln gave each.
     */
    private readonly onSession?: SessionListener,
    /** Each stdout and stderr payload as it is kept (the part within the caps): a streamed run's output as it comes. */
    private readonly onStream?: (kind: 'o' | 'e', data: Buffer) => void,
  ) {
    this.stdout = new CappedBuffer(limits.streamBytes);
    this.stderr = new CappedBuffer(limits.streamBytes);
  }

  /** Feeds bytes the wrapper wrote to the container's stdout. */
  push(chunk: Buffer): void {
    if (this.violation) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= FRAME_HEADER_BYTES && !this.violation) {
      const head = this.peek(FRAME_HEADER_BYTES);
      const kind = String.fromCharCode(head[0]!);
      const length = head.readUInt32BE(1);
      const spec = frameKind(kind);
      if (!spec || spec.from === 'kiln') {
        this.fail('protocol');
        return;
      }
      if (length > this.maxPayload(spec)) {
        this.fail(spec.over);
        return;
      }
      if (this.buffered < FRAME_HEADER_BYTES + length) return;
      this.handle(kind, spec, this.take(FRAME_HEADER_BYTES + length).subarray(FRAME_HEADER_BYTES));
    }
  }

  private maxPayload(spec: FrameKind): number {
    if (spec.maxPayload === 'result') return this.limits.resultBytes;
    if (spec.maxPayload === 'files') return this.limits.files ? this.limits.files.bytes + OUTPUT_PATH_BYTES + 1 : 0;
    return spec.maxPayload;
  }

  /** An output file: within the bounds kiln sent (the wrapper keeps to them; past them is a broken box). */
  private outputFile(payload: Buffer): void {
    const nul = payload.indexOf(0);
    const bounds = this.limits.files;
    if (nul < 0 || !bounds) {
      this.fail('protocol');
      return;
    }
    if (nul === 0) {
      this.filesTruncated = true;
      return;
    }
    const path = outputPath(payload.subarray(0, nul));
    const data = payload.subarray(nul + 1);
    this.fileBytes += data.length;
    if (this.files.length === bounds.count || this.fileBytes > bounds.bytes) this.fail('protocol');
    else if (path === null)
      this.filesTruncated = true; // a name kiln cannot serve back: left out, and said
    else this.files.push({ path, data: Buffer.from(data) });
  }

  /** Bytes on the container's own stderr come from the wrapper itself (it crashed): keep them for the user. */
  pushWrapperStderr(chunk: Buffer): void {
    if (this.violation) return;
    if (this.onOutput) this.onOutput('e', chunk);
    else if (!this.stderr.append(chunk)) this.fail('output_limit');
  }

  private handle(kind: string, spec: FrameKind, payload: Buffer): void {
    // k: the harness was ready, before any request: not a sign that anything ran
    if (kind === 'k') return;
    // t (and every frame after it): the harness took the request, so the code may have run; a box
    // that dies from here on died of its code (under gVisor, the code can even kill PID 1)
    this.sawFrames = true;
    if ((kind === 'o' || kind === 'e') && this.onOutput) this.onOutput(kind, payload);
    else if (kind === 'o' || kind === 'e') this.keep(kind, payload);
    else if (kind === 'w') this.outputFile(payload);
    else if (kind === 'r' && this.onSession) this.onSession.result(payload);
    else if (kind === 'r') this.result = payload;
    else if (kind === 'h') {
      const exit = parseExit(payload);
      if (exit && this.onSession) this.onSession.harnessEnded(exit);
      else this.fail('protocol');
    } else if (spec.process) {
      if (payload.length < PROCESS_ID_BYTES || !this.onSession?.process) {
        this.fail('protocol');
        return;
      }
      this.onSession.process(kind as ProcessKind, payload.readUInt32BE(0), payload.subarray(PROCESS_ID_BYTES));
    } else if (spec.tunnel) {
      if (payload.length < TUNNEL_ID_BYTES || !this.onTunnel) {
        this.fail('protocol');
        return;
      }
      this.onTunnel(kind as TunnelKind, payload.readUInt32BE(0), payload.subarray(TUNNEL_ID_BYTES));
    } else if (kind === 'x') {
      const exit = parseExit(payload);
      if (exit) this.exit = exit;
      else this.fail('protocol');
    }
  }

  /** Output within its cap, streamed as it is kept; past the cap the run is stopped (output_limit). */
  private keep(kind: 'o' | 'e', payload: Buffer): void {
    const buffer = kind === 'o' ? this.stdout : this.stderr;
    const kept = payload.length <= buffer.room() ? payload : payload.subarray(0, buffer.room());
    if (this.onStream && kept.length) this.onStream(kind, kept);
    if (!buffer.append(payload)) this.fail('output_limit');
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

/** The exit frame, or null when it is not JSON with an exit_code of 0..255 (a forged frame). */
function parseExit(payload: Buffer): ExitStatus | null {
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as Partial<ExitStatus>;
    const code = parsed.exit_code;
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 255) return null;
    return { exit_code: code, oom: parsed.oom === true };
  } catch {
    return null;
  }
}
