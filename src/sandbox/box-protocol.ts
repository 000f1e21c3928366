/**
 * THE BOX PROTOCOL, written down once: what kiln and a box say to each other, and in what order.
 * runtimes/wrapper.py is PID 1 of every box; the harness (runtimes/python/harness.py,
 * runtimes/node/harness.mjs) runs the code; a build is a script (runtimes/build/build.py) run by
 * the Python harness. The frame kinds and their limits are the table below (FRAMES), which kiln's
 * decoder reads and a unit test holds runtimes/wrapper.py to. kiln's side: src/sandbox/box-request.ts
 * (what starts something in a box), src/sandbox/frame-decoder.ts (the decoder),
 * src/sandbox/box-session.ts (a conversation with an attached box) and src/sandbox/tunnel.ts.
 *
 * - Wire. On the container's stdout the wrapper writes frames only: a kind byte, the payload's
 *   length (4 bytes, big-endian), the payload. FRAMES below says who sends each kind and its
 *   largest payload. On the container's stdin kiln writes one request (encodeRequest), then nothing
 *   until the box opens a tunnelled connection, then d and f frames for it. The container's own
 *   stderr carries only the wrapper's last words, should it crash.
 * - In the box. The wrapper starts the harness before any request, appending three fds: the
 *   request pipe, the result pipe and the ready pipe.
 * - Order. (1) ready: the warm harness writes "ready\n" on the ready pipe; the wrapper sends `k`,
 *   the box's first frame (kiln's pool hands out only boxes that sent it). (2) request: kiln writes
 *   a header line "<mode> <deadline ms or -> <line bytes> <stdin bytes> <output files> <output
 *   bytes>" (the last two: how many files, and bytes in all, a one-shot run may give back), the request line (JSON,
 *   which never holds a newline, so the harness reads exactly up to it) and the code's stdin.
 *   (3) taken: once all of it is in, the wrapper sends `t`, and only then writes the line on the
 *   request pipe, so no code runs before `t` is on its way (a box that dies after `t` died running
 *   its code); it feeds the stdin to the harness's own. (4) run: the harness's stdout and
 *   stderr become `o` and `e` frames (a read each, at most 64 KiB); each connection the code opens
 *   to the in-box proxy (127.0.0.1:3128) becomes `c`, `d`, `f` frames, whose payload starts with a
 *   4-byte connection id, and kiln answers with `d` and `f` for the same id (`f` alone: refused).
 *   (5) end: the harness's last word on the result pipe is "<length>\n" then "valid\n<JSON>" or
 *   "json_serialization_error\n" (function mode) or "exit <status>" (a script that ended by itself);
 *   the wrapper sends the run's output files, each a `w` frame "<path>\0<bytes>" (the regular
 *   files under /mnt/req/out, within the header's bounds, each whole; a `w` with an empty path
 *   says some were left out), then `r` (function mode: that status line and JSON) and then `x`,
 *   {"exit_code":0..255,"oom":bool}, its last frame (128 + the signal for a harness killed). kiln
 *   answers on `x` and removes the box. A build's script prints a marker line once installed and
 *   waits: kiln copies the tree out of the box and removes it.
 * - Session mode (src/sessions/). The request's mode is `session`, its deadline the session's
 *   lifetime, its line {mode, language, env, files}. The harness sets up env, files and its default
 *   context and answers `r` {"ready":true}. Then each call is a `q` frame from kiln (one JSON
 *   object: op execute, command, context_create or context_delete), which the wrapper writes on
 *   the request pipe, kept open; the call's output streams as `o` and `e`, and its answer is one `r`
 *   (the wrapper drains the output pipes first, so a call's output always precedes its answer).
 *   kiln sends the next `q` only after that `r`. `i` interrupts the running call (SIGINT: Python's
 *   KeyboardInterrupt, the state kept); `z` kills the harness and what it started. A harness that
 *   ends (killed, OOM, os._exit) is reported as `h` {"exit_code","oom"}; the wrapper starts a fresh
 *   one, which answers `r` {"ready":true} again. No `x` until the box itself ends.
 * - Session processes (runtimes/wrapper_procs.py). Beside the harness's calls, kiln may start
 *   processes that run at once with them: `p` (an id kiln chose, then {argv, env, cwd, stdin}); the
 *   box answers `P` {pid} (or {error}), streams `O` and `E`, and ends with `X` {exit_code, signal}
 *   once the process has exited and its output is out; kiln's `n` writes its stdin (empty: closes
 *   it), `s` signals its process group. Each payload starts with the process's 4-byte id. A harness
 *   that ends takes them with it (each gets its `X`).
 * - Limits. A frame of an unknown kind, over its kind's largest payload, or a tunnel frame without
 *   its id breaks the protocol (kiln stops the box: sandbox_error), except a result over the result
 *   limit, which is an output_limit; stdout and stderr are kept up to the output limit each, and
 *   past it the box is stopped (output_limit). The wrapper ends the box itself 5 s past the
 *   request's deadline (300 s when it has none), and as soon as its stdin ends (kiln is gone).
 */

/**
 * The protocol's version. Images FROM the sandbox images (custom runtimes) carry the wrapper they
 * were built with, so their tags name it: a kiln that speaks another version builds them again.
 */
export const BOX_PROTOCOL_VERSION = 5;

/** What a box did wrong: it broke a limit or the protocol; either way kiln stops it. */
export type Violation = 'output_limit' | 'protocol';

export interface FrameKind {
  /** Who writes it: the box (its wrapper, on the container's stdout), kiln (on its stdin), or both. */
  from: 'box' | 'kiln' | 'both';
  /**
   * Its largest payload in bytes; `result`: the result limit (KILN_RESULT_LIMIT_BYTES); `files`:
   * the output files' byte bound of the request (KILN_OUTPUT_FILES_MAX_BYTES), plus a path.
   */
  maxPayload: number | 'result' | 'files';
  /** What a longer payload is. */
  over: Violation;
  /** A tunnel frame: its payload starts with the connection's id (TUNNEL_ID_BYTES, big-endian). */
  tunnel?: boolean;
  /** A session's process frame: its payload starts with the process's id (4 bytes, big-endian), which kiln chose. */
  process?: boolean;
  means: string;
}

/** kind byte + payload length */
export const FRAME_HEADER_BYTES = 5;
export const TUNNEL_ID_BYTES = 4;
export const PROCESS_ID_BYTES = 4;
/** The largest o, e, c, d, f payload kiln takes (the wrapper sends one read of at most 64 KiB, plus an id). */
const STREAM_FRAME_BYTES = 1 << 20;

/** Every frame kind of the protocol, in one table: the decoder's kinds and limits come from here. */
export const FRAMES = {
  k: { from: 'box', maxPayload: 0, over: 'protocol', means: 'ready: the harness is warm and waiting (the first frame)' },
  t: {
    from: 'box',
    maxPayload: 0,
    over: 'protocol',
    means: 'taken: the wrapper has the request and hands it to the harness; its code may run from now on',
  },
  o: { from: 'box', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', means: "the code's stdout" },
  e: { from: 'box', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', means: "the code's stderr" },
  r: { from: 'box', maxPayload: 'result', over: 'output_limit', means: 'result: a status word, a newline, the return value as JSON' },
  w: {
    from: 'box',
    maxPayload: 'files',
    over: 'protocol',
    means: 'an output file of a one-shot run, "<path>\\0<bytes>" (an empty path: some were left out); before r and x',
  },
  x: { from: 'box', maxPayload: 4096, over: 'protocol', means: 'exit status, {"exit_code":n,"oom":bool}: the last frame' },
  c: { from: 'box', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', tunnel: true, means: 'the code opened a connection' },
  d: { from: 'both', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', tunnel: true, means: "a connection's data" },
  f: { from: 'both', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', tunnel: true, means: 'this side closed the connection' },
  q: {
    from: 'kiln',
    maxPayload: STREAM_FRAME_BYTES,
    over: 'protocol',
    means: "a session's call (JSON): the harness runs it, then answers r",
  },
  i: {
    from: 'kiln',
    maxPayload: 0,
    over: 'protocol',
    means: "interrupt: SIGINT to a session's harness (the running call ends, its state kept)",
  },
  z: {
    from: 'kiln',
    maxPayload: 0,
    over: 'protocol',
    means: "kill a session's harness and what it started; the wrapper starts a fresh one",
  },
  h: {
    from: 'box',
    maxPayload: 4096,
    over: 'protocol',
    means: 'a session\'s harness ended, {"exit_code":n,"oom":bool}: a fresh one follows (r ready)',
  },
  p: {
    from: 'kiln',
    maxPayload: STREAM_FRAME_BYTES,
    over: 'protocol',
    process: true,
    means: 'start a process in a session box beside its harness, {"argv","env","cwd","stdin"}',
  },
  n: { from: 'kiln', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', process: true, means: "a process's stdin (empty: closed)" },
  s: { from: 'kiln', maxPayload: 64, over: 'protocol', process: true, means: 'a signal to a process\'s group, {"signal":n}' },
  P: { from: 'box', maxPayload: 4096, over: 'protocol', process: true, means: 'a process started, {"pid":n}, or not, {"error":text}' },
  O: { from: 'box', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', process: true, means: "a process's stdout" },
  E: { from: 'box', maxPayload: STREAM_FRAME_BYTES, over: 'protocol', process: true, means: "a process's stderr" },
  X: {
    from: 'box',
    maxPayload: 4096,
    over: 'protocol',
    process: true,
    means: 'a process ended, {"exit_code":n,"signal":n|null}: all its output is out',
  },
} as const satisfies Record<string, FrameKind>;

type Kinds = typeof FRAMES;
export type ProcessKind = { [K in keyof Kinds]: Kinds[K] extends { process: true; from: 'box' } ? K : never }[keyof Kinds];
export type ProcessListener = (kind: ProcessKind, id: number, data: Buffer) => void;
export type TunnelKind = { [K in keyof Kinds]: Kinds[K] extends { tunnel: true } ? K : never }[keyof Kinds];
export type TunnelListener = (kind: TunnelKind, id: number, data: Buffer) => void;

/** The table's entry for a kind byte, or undefined: no such kind. */
export function frameKind(kind: string): FrameKind | undefined {
  return Object.hasOwn(FRAMES, kind) ? FRAMES[kind as keyof Kinds] : undefined;
}

/** One frame: kind byte + 4-byte big-endian length + payload. */
export function encodeFrame(kind: keyof Kinds, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.write(kind, 0, 'latin1');
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}
