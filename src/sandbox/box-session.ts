/**
 * kiln's side of the box protocol (src/sandbox/box-protocol.ts) for every box that runs something:
 * a run's (src/sandbox/runner.ts) and a build's (src/runtimes/builds/build-box.ts). It writes the job to an
 * attached box (what to write: box-request.ts), reads the box's frames (decoded by ./frame-decoder.ts),
 * and carries its tunnelled connections to the egress proxy.
 */
import type { EgressProxy, EgressSession } from '../egress/proxy.js';
import type { Violation } from './box-protocol.js';
import type { SandboxHandle } from './docker.js';
import { FrameDecoder, type OutputLimits, type SessionListener } from './frame-decoder.js';
import { tunnelFor } from './tunnel.js';

/** What a session needs of an attached box (src/sandbox/docker.ts). */
export type AttachedBox = Pick<SandboxHandle, 'send' | 'pendingBytes' | 'pipe'>;

export interface BoxSessionOptions {
  limits: OutputLimits;
  /** Where the box's tunnelled connections go: kiln's egress proxy, under this session's rules, at most `maxConnections` at once. */
  egress: { proxy: Pick<EgressProxy, 'serve' | 'end'>; session: EgressSession; maxConnections: number };
  /** Takes stdout and stderr instead of the decoder's caps (see FrameDecoder). */
  onOutput?: (kind: 'o' | 'e', data: Buffer) => void;
  /** The box broke a limit or the protocol (called once, as it happens): the caller stops the box. */
  onViolation?: (violation: Violation) => void;
  /** A session box: its results, its harness's ends and its processes' frames as they come (see FrameDecoder). */
  onSession?: SessionListener;
  /** stdout and stderr as they are kept, for a streamed run (see FrameDecoder). */
  onStream?: (kind: 'o' | 'e', data: Buffer) => void;
}

export type BoxSession = ReturnType<typeof openBoxSession>;

/**
 * One conversation with an attached box, from its output's first byte (the ready frame is taken as
 * already seen): decodes what it writes, carries its tunnelled connections to the egress proxy.
 */
export function openBoxSession(box: AttachedBox, opts: BoxSessionOptions) {
  const { proxy, session, maxConnections } = opts.egress;
  const tunnel = tunnelFor(box, (channel) => proxy.serve(channel, session), maxConnections);
  const decoder = new FrameDecoder(opts.limits, tunnel.onFrame, opts.onOutput, opts.onSession, opts.onStream);
  let reportExit!: () => void;
  const exited = new Promise<void>((resolve) => (reportExit = resolve));
  let reported = false;
  const check = () => {
    if (decoder.violation) {
      if (!reported) opts.onViolation?.(decoder.violation);
      reported = true;
    } else if (decoder.exit) reportExit();
  };
  const ended = box.pipe(
    (chunk) => {
      decoder.push(chunk);
      check();
    },
    (chunk) => {
      decoder.pushWrapperStderr(chunk);
      check();
    },
  );
  return {
    decoder,
    /** Resolves once the wrapper's exit frame is in: its last word (the container may still be stopping). */
    exited,
    /** Resolves once the box's output ends: it stopped, or was killed or removed. */
    ended,
    /** Writes the request (encodeRequest): the box runs it. */
    send(data: string | Buffer): void {
      box.send(data);
    },
    /** Ends the box's tunnelled connections. */
    closeTunnel(): void {
      tunnel.closeAll();
    },
    /** Ends the session: its connections, and its upstream connections in the egress proxy. */
    close(): void {
      tunnel.closeAll();
      proxy.end(session);
    },
  };
}
