import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { EgressSession } from '../../../src/egress/proxy.js';
import { AppError } from '../../../src/errors.js';
import { encodeFrame, FRAMES, type FrameKind, type TunnelKind } from '../../../src/sandbox/box-protocol.js';
import { encodeRequest } from '../../../src/sandbox/box-request.js';
import { openBoxSession } from '../../../src/sandbox/box-session.js';
import { CappedBuffer, FrameDecoder } from '../../../src/sandbox/frame-decoder.js';

/** One wrapper frame: kind byte + 4-byte big-endian length + payload. */
function frame(kind: string, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.alloc(5);
  head.write(kind, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** The frame table, seen as any table of kinds (the test asks of each who sends it). */
const table: Record<string, FrameKind> = FRAMES;
const roomy = { streamBytes: 1024, resultBytes: 1024, files: { count: 3, bytes: 100 } };
const exitFrame = (code: number, oom = false) => frame('x', JSON.stringify({ exit_code: code, signal: null, oom }));

describe('FrameDecoder', () => {
  it('decodes a whole conversation fed one byte at a time', () => {
    const stream = Buffer.concat([
      frame('o', 'hello '),
      frame('e', 'warn\n'),
      frame('o', 'wörld\n'),
      frame('r', '{"status":"valid","output":42}'),
      exitFrame(0),
    ]);
    const d = new FrameDecoder(roomy);
    for (let i = 0; i < stream.length; i++) d.push(stream.subarray(i, i + 1));
    expect(d.violation).toBeNull();
    expect(d.stdout.text()).toBe('hello wörld\n');
    expect(d.stderr.text()).toBe('warn\n');
    expect(d.result?.toString()).toBe('{"status":"valid","output":42}');
    expect(d.exit).toEqual({ exit_code: 0, oom: false });
  });

  it('skips the ready frame, which says nothing ran; a ready frame with a payload breaks the protocol', () => {
    const d = new FrameDecoder(roomy);
    d.push(frame('k', ''));
    expect(d.violation).toBeNull();
    expect(d.sawFrames).toBe(false);
    d.push(Buffer.concat([frame('o', 'hi'), exitFrame(0)]));
    expect(d.stdout.text()).toBe('hi');
    expect(d.sawFrames).toBe(true);
    const bad = new FrameDecoder(roomy);
    bad.push(frame('k', 'x'));
    expect(bad.violation).toBe('protocol');
  });

  it('takes the taken frame as a sign the code may have run; a taken frame with a payload breaks the protocol', () => {
    const d = new FrameDecoder(roomy);
    d.push(frame('k', ''));
    d.push(frame('t', ''));
    expect(d.violation).toBeNull();
    expect(d.sawFrames).toBe(true); // a box that dies from here on died running its code
    const bad = new FrameDecoder(roomy);
    bad.push(frame('t', 'x'));
    expect(bad.violation).toBe('protocol');
  });

  it('decodes the same stream split at every possible boundary', () => {
    const stream = Buffer.concat([frame('o', 'abc'), frame('e', 'de'), frame('r', '{}'), exitFrame(7)]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder(roomy);
      d.push(stream.subarray(0, cut));
      d.push(stream.subarray(cut));
      expect(d.violation, `cut at ${cut}`).toBeNull();
      expect(d.stdout.text(), `cut at ${cut}`).toBe('abc');
      expect(d.stderr.text(), `cut at ${cut}`).toBe('de');
      expect(d.result?.toString(), `cut at ${cut}`).toBe('{}');
      expect(d.exit, `cut at ${cut}`).toEqual({ exit_code: 7, oom: false });
    }
  });

  it('keeps a multi-byte UTF-8 character split across frames intact', () => {
    const euro = Buffer.from('€', 'utf8');
    const d = new FrameDecoder(roomy);
    d.push(Buffer.concat([frame('o', euro.subarray(0, 1)), frame('o', euro.subarray(1))]));
    expect(d.stdout.text()).toBe('€');
  });

  it('decodes several frames in one chunk', () => {
    const d = new FrameDecoder(roomy);
    d.push(Buffer.concat([frame('o', 'a'), frame('o', 'b'), frame('e', 'c'), frame('o', 'd'), exitFrame(3)]));
    expect(d.stdout.text()).toBe('abd');
    expect(d.stderr.text()).toBe('c');
    expect(d.exit?.exit_code).toBe(3);
  });

  it('waits for the rest of a partial frame without deciding anything', () => {
    const d = new FrameDecoder(roomy);
    const f = frame('o', 'partial');
    d.push(f.subarray(0, 7));
    expect(d.stdout.text()).toBe('');
    expect(d.violation).toBeNull();
    d.push(f.subarray(7));
    expect(d.stdout.text()).toBe('partial');
  });

  it('accepts an empty payload', () => {
    const d = new FrameDecoder(roomy);
    d.push(Buffer.concat([frame('o', ''), frame('o', 'x')]));
    expect(d.stdout.text()).toBe('x');
    expect(d.violation).toBeNull();
  });

  it('caps stdout, marks it truncated and reports output_limit', () => {
    const d = new FrameDecoder({ streamBytes: 10, resultBytes: 1024 });
    d.push(frame('o', '123456'));
    expect(d.stdout.truncated).toBe(false);
    d.push(frame('o', '7890abcdef'));
    expect(d.stdout.text()).toBe('1234567890');
    expect(d.stdout.truncated).toBe(true);
    expect(d.violation).toBe('output_limit');
    expect(d.stderr.truncated).toBe(false);
  });

  it('allows output exactly at the cap', () => {
    const d = new FrameDecoder({ streamBytes: 4, resultBytes: 1024 });
    d.push(frame('o', '1234'));
    expect(d.stdout.text()).toBe('1234');
    expect(d.stdout.truncated).toBe(false);
    expect(d.violation).toBeNull();
  });

  it('caps stderr independently of stdout', () => {
    const d = new FrameDecoder({ streamBytes: 5, resultBytes: 1024 });
    d.push(frame('o', 'abc'));
    d.push(frame('e', 'stderr-too-long'));
    expect(d.stderr.text()).toBe('stder');
    expect(d.stderr.truncated).toBe(true);
    expect(d.stdout.truncated).toBe(false);
    expect(d.stdout.text()).toBe('abc');
    expect(d.violation).toBe('output_limit');
  });

  it('ignores everything after a violation', () => {
    const d = new FrameDecoder({ streamBytes: 2, resultBytes: 1024 });
    d.push(Buffer.concat([frame('o', 'toolong'), frame('e', 'later'), exitFrame(0)]));
    expect(d.violation).toBe('output_limit');
    expect(d.stderr.text()).toBe('');
    expect(d.exit).toBeNull();
    d.push(frame('e', 'more'));
    expect(d.stderr.text()).toBe('');
  });

  it('reports output_limit for a result frame over resultBytes, from its header alone', () => {
    const d = new FrameDecoder({ streamBytes: 1024, resultBytes: 8 });
    // only the header: the decoder must not wait to buffer a huge payload first
    d.push(frame('r', '{"status":"valid","output":"big"}').subarray(0, 5));
    expect(d.violation).toBe('output_limit');
    expect(d.result).toBeNull();
  });

  it('accepts a result frame exactly at resultBytes', () => {
    const d = new FrameDecoder({ streamBytes: 1024, resultBytes: 8 });
    d.push(frame('r', '12345678'));
    expect(d.violation).toBeNull();
    expect(d.result?.toString()).toBe('12345678');
  });

  it('reports protocol for an unknown frame kind', () => {
    const d = new FrameDecoder(roomy);
    d.push(Buffer.concat([frame('o', 'ok'), frame('z', 'what')]));
    expect(d.stdout.text()).toBe('ok');
    expect(d.violation).toBe('protocol');
  });

  it('reports protocol for a NUL kind byte (raw bytes that are not frames)', () => {
    const d = new FrameDecoder(roomy);
    d.push(Buffer.from([0, 0, 0, 0, 1, 65]));
    expect(d.violation).toBe('protocol');
  });

  it('reports protocol for an exit frame that is not JSON', () => {
    const d = new FrameDecoder(roomy);
    d.push(frame('x', '{exit_code: 0'));
    expect(d.violation).toBe('protocol');
    expect(d.exit).toBeNull();
  });

  it('reports protocol for an oversized exit frame', () => {
    const d = new FrameDecoder(roomy);
    d.push(frame('x', ' '.repeat(5000)).subarray(0, 5));
    expect(d.violation).toBe('protocol');
  });

  it('parses the exit frame, including the OOM flag', () => {
    const d = new FrameDecoder(roomy);
    d.push(exitFrame(137, true));
    expect(d.exit).toEqual({ exit_code: 137, oom: true });
    expect(d.violation).toBeNull();
  });

  it('refuses an exit frame whose exit_code is not an integer of 0..255 (a forged frame)', () => {
    for (const bad of ['{"oom":"yes"}', '{"exit_code":"abc"}', '{"exit_code":1.5}', '{"exit_code":256}', '{"exit_code":-1}']) {
      const d = new FrameDecoder(roomy);
      d.push(frame('x', bad));
      expect(d.exit).toBeNull();
      expect(d.violation).toBe('protocol');
    }
  });

  it('counts oom only when it is exactly true', () => {
    const d = new FrameDecoder(roomy);
    d.push(frame('x', '{"exit_code":137,"oom":"yes"}'));
    expect(d.exit).toEqual({ exit_code: 137, oom: false });
  });

  it("appends the wrapper's own stderr to stderr, within the cap, and stops past it", () => {
    const d = new FrameDecoder({ streamBytes: 12, resultBytes: 1024 });
    d.push(frame('e', 'user:'));
    d.pushWrapperStderr(Buffer.from('Traceback: boom'));
    expect(d.stderr.text()).toBe('user:Traceba');
    expect(d.stderr.truncated).toBe(true);
    expect(d.violation).toBe('output_limit');
    expect(d.stdout.text()).toBe('');
  });

  it('appends wrapper stderr without parsing it as frames', () => {
    const d = new FrameDecoder(roomy);
    d.pushWrapperStderr(frame('o', 'not a frame here'));
    expect(d.stdout.text()).toBe('');
    expect(d.stderr.text()).toContain('not a frame here');
    expect(d.violation).toBeNull();
  });
});

describe('FrameDecoder: tunnel frames and a taker of output', () => {
  const id = (n: number, rest = '') => Buffer.concat([Buffer.from([0, 0, 0, n]), Buffer.from(rest)]);

  it('hands c, d and f frames to the tunnel with their connection id', () => {
    const seen: [TunnelKind, number, string][] = [];
    const d = new FrameDecoder(roomy, (kind, n, data) => seen.push([kind, n, data.toString()]));
    const stream = Buffer.concat([frame('c', id(1)), frame('d', id(1, 'GET /')), frame('f', id(1))]);
    for (let i = 0; i < stream.length; i++) d.push(stream.subarray(i, i + 1));
    expect(seen).toEqual([
      ['c', 1, ''],
      ['d', 1, 'GET /'],
      ['f', 1, ''],
    ]);
    expect(d.violation).toBeNull();
    expect(d.sawFrames).toBe(true);
  });

  it('reports protocol for a tunnel frame without its 4-byte id, or when nothing takes tunnel frames', () => {
    const short = new FrameDecoder(roomy, () => {});
    short.push(frame('d', Buffer.from([0, 0, 1])));
    expect(short.violation).toBe('protocol');
    const untaken = new FrameDecoder(roomy);
    untaken.push(frame('c', id(1)));
    expect(untaken.violation).toBe('protocol');
  });

  it("gives stdout, stderr and the wrapper's own stderr to the taker, past the caps and without a violation", () => {
    const taken: string[] = [];
    const d = new FrameDecoder({ streamBytes: 2, resultBytes: 1024 }, undefined, (kind, data) => taken.push(`${kind}:${data}`));
    d.push(Buffer.concat([frame('k', ''), frame('o', 'hello'), frame('e', 'world')]));
    d.pushWrapperStderr(Buffer.from('crash'));
    expect(taken).toEqual(['o:hello', 'e:world', 'e:crash']);
    expect(d.stdout.text()).toBe('');
    expect(d.stderr.text()).toBe('');
    expect(d.violation).toBeNull();
  });

  it('decodes what encodeFrame encodes, for every kind the box sends', () => {
    const d = new FrameDecoder(roomy, () => {});
    for (const kind of Object.keys(FRAMES) as (keyof typeof FRAMES)[]) {
      // exit-shaped: below, and with sessions; a process's: a session box's only (below)
      if (table[kind]!.from === 'kiln' || kind === 'x' || kind === 'h' || table[kind]!.process) continue;
      const payload = kind === 'k' || kind === 't' ? Buffer.alloc(0) : id(9, kind);
      expect(encodeFrame(kind, payload)).toEqual(frame(kind, payload));
      d.push(encodeFrame(kind, payload));
    }
    d.push(encodeFrame('x', Buffer.from('{"exit_code":0,"oom":false}')));
    expect(d.violation).toBeNull();
    expect(d.exit).toEqual({ exit_code: 0, oom: false });
  });

  it("gives a session box's process frames to the session by their id; from a one-shot box, or without an id, they break the protocol", () => {
    const seen: string[] = [];
    const listener = {
      result: () => {},
      harnessEnded: () => {},
      process: (kind: string, pid: number, data: Buffer) => seen.push(`${kind} ${pid} ${data}`),
    };
    const d = new FrameDecoder(roomy, () => {}, undefined, listener);
    const stream = Buffer.concat([
      frame('P', id(7, '{"pid":42}')),
      frame('O', id(7, 'out')),
      frame('E', id(7, 'err')),
      frame('X', id(7, '{}')),
    ]);
    for (let i = 0; i < stream.length; i += 2) d.push(stream.subarray(i, i + 2));
    expect(seen).toEqual(['P 7 {"pid":42}', 'O 7 out', 'E 7 err', 'X 7 {}']);
    expect(d.violation).toBeNull();
    const oneShot = new FrameDecoder(roomy, () => {});
    oneShot.push(frame('O', id(7, 'out')));
    expect(oneShot.violation).toBe('protocol');
    const short = new FrameDecoder(roomy, () => {}, undefined, listener);
    short.push(frame('X', 'ab'));
    expect(short.violation).toBe('protocol');
  });

  it("gives a session box's every result and its harness's ends to the session, in order; h from a one-shot box is a violation", () => {
    const seen: string[] = [];
    const d = new FrameDecoder(roomy, () => {}, undefined, {
      result: (payload) => seen.push(`r ${payload}`),
      harnessEnded: (exit) => seen.push(`h ${exit.exit_code} ${exit.oom}`),
    });
    const stream = Buffer.concat([
      frame('r', '{"ready":true}'),
      frame('o', 'x'),
      frame('r', '{"results":[]}'),
      frame('h', '{"exit_code":137,"oom":true}'),
      frame('r', '{"ready":true}'),
    ]);
    for (let i = 0; i < stream.length; i += 3) d.push(stream.subarray(i, i + 3));
    expect(seen).toEqual(['r {"ready":true}', 'r {"results":[]}', 'h 137 true', 'r {"ready":true}']);
    expect(d.result).toBeNull();
    expect(d.violation).toBeNull();
    const oneShot = new FrameDecoder(roomy, () => {});
    oneShot.push(frame('h', '{"exit_code":0,"oom":false}'));
    expect(oneShot.violation).toBe('protocol');
  });

  it("takes its kinds and limits from FRAMES: every frame over its kind's limit is refused from its header", () => {
    for (const [kind, spec] of Object.entries(FRAMES)) {
      const limit =
        spec.maxPayload === 'result' ? roomy.resultBytes : spec.maxPayload === 'files' ? roomy.files.bytes + 1024 + 1 : spec.maxPayload;
      const head = Buffer.alloc(5);
      head.write(kind, 0, 'latin1');
      head.writeUInt32BE(limit + 1, 1);
      const d = new FrameDecoder(roomy, () => {});
      d.push(head);
      expect(d.violation, kind).toBe(spec.over);
    }
  });
});

describe("a one-shot run's output files (w frames)", () => {
  const file = (path: string | Buffer, data: string) => frame('w', Buffer.concat([Buffer.from(path), Buffer.from([0]), Buffer.from(data)]));

  it('keeps each file whole with its path, and a bare marker as "some were left out"', () => {
    const d = new FrameDecoder(roomy, () => {});
    d.push(Buffer.concat([file('chart.png', 'PNG'), file('deep/er/a.csv', 'a,b\n'), frame('w', Buffer.from([0]))]));
    expect(d.violation).toBeNull();
    expect(d.files.map((f) => [f.path, f.data.toString()])).toEqual([
      ['chart.png', 'PNG'],
      ['deep/er/a.csv', 'a,b\n'],
    ]);
    expect(d.filesTruncated).toBe(true);
  });

  it('leaves out (and says so) a path kiln could not serve back: absolute, climbing, empty parts, not UTF-8', () => {
    for (const path of ['/etc/passwd', '../x', 'a/../../x', 'a//b', './a', Buffer.from([0x66, 0xff, 0x6f])]) {
      const d = new FrameDecoder(roomy, () => {});
      d.push(file(path, 'x'));
      expect(d.violation, String(path)).toBeNull();
      expect(d.files, String(path)).toEqual([]);
      expect(d.filesTruncated, String(path)).toBe(true);
    }
  });

  it('takes a box past the bounds it was sent, or sending files unasked, for a broken box', () => {
    const many = new FrameDecoder(roomy, () => {});
    many.push(Buffer.concat(['a', 'b', 'c', 'd'].map((p) => file(p, 'x'))));
    expect(many.violation).toBe('protocol');
    const heavy = new FrameDecoder(roomy, () => {});
    heavy.push(Buffer.concat([file('a', 'x'.repeat(60)), file('b', 'y'.repeat(60))]));
    expect(heavy.violation).toBe('protocol');
    const unasked = new FrameDecoder({ streamBytes: 1024, resultBytes: 1024 }, () => {});
    unasked.push(file('a', 'x'));
    expect(unasked.violation).toBe('protocol');
    const noNul = new FrameDecoder(roomy, () => {});
    noNul.push(frame('w', 'no separator'));
    expect(noNul.violation).toBe('protocol');
  });
});

describe('the frame table and the wrapper', () => {
  // the wrapper and its session mode, beside it (runtimes/wrapper_session.py, runtimes/wrapper_procs.py)
  const wrapper = ['wrapper.py', 'wrapper_session.py', 'wrapper_procs.py']
    .map((file) => readFileSync(new URL(`../../../runtimes/${file}`, import.meta.url), 'utf8'))
    .join('\n');

  it("lists every kind runtimes/wrapper.py sends, and the wrapper sends every kind it lists as the box's", () => {
    // what the wrapper writes: frame(b"k", …) and the like, and the o/e kinds its relayed pipes are registered under
    const sent = new Set(
      [
        ...wrapper.matchAll(/frame\(b"(.)"/g),
        ...wrapper.matchAll(/child\.std(?:out|err), selectors\.EVENT_READ, b"(.)"/g),
        // a process's stdout and stderr kinds (wrapper_procs.py)
        ...wrapper.matchAll(/\(popen\.std(?:out|err), b"(.)"\)/g),
      ].map((m) => m[1]),
    );
    const boxKinds = Object.entries(table)
      .filter(([, spec]) => spec.from !== 'kiln')
      .map(([kind]) => kind);
    expect([...sent].sort()).toEqual(boxKinds.sort());
  });

  it('has the wrapper read exactly the kinds kiln sends', () => {
    const fromKiln = wrapper.slice(wrapper.indexOf('def from_kiln'), wrapper.indexOf('def ', wrapper.indexOf('def from_kiln') + 1));
    const read = new Set([...fromKiln.matchAll(/kind == b"(.)"/g)].map((m) => m[1]));
    const kilnKinds = Object.entries(table)
      .filter(([, spec]) => spec.from !== 'box')
      .map(([kind]) => kind);
    expect([...read].sort()).toEqual(kilnKinds.sort());
  });
});

describe('CappedBuffer', () => {
  it('keeps the head up to the cap, and says so once bytes are dropped', () => {
    const b = new CappedBuffer(5);
    expect(b.append(Buffer.from('abc'))).toBe(true);
    expect(b.append(Buffer.from('de'))).toBe(true);
    expect(b.truncated).toBe(false);
    expect(b.append(Buffer.from('f'))).toBe(false);
    expect(b.text()).toBe('abcde');
    expect(b.truncated).toBe(true);
  });

  it('keeps the tail: the last cap bytes, across chunk boundaries', () => {
    const b = new CappedBuffer(5, 'tail');
    b.append(Buffer.from('abc'));
    b.append(Buffer.from('de'));
    expect(b.text()).toBe('abcde');
    expect(b.truncated).toBe(false);
    b.append(Buffer.from('fg'));
    expect(b.text()).toBe('cdefg');
    expect(b.truncated).toBe(true);
    b.append(Buffer.from('0123456789'));
    expect(b.text()).toBe('56789');
    expect(b.bytes()).toHaveLength(5);
  });
});

/** A request as the wrapper splits it: the header's four fields, the request line, the code's stdin (all bytes). */
function split(request: string) {
  const bytes = Buffer.from(request, 'utf8');
  const newline = bytes.indexOf(10);
  const [mode, deadline, lineBytes, stdinBytes, files, fileBytes] = bytes.subarray(0, newline).toString().split(' ');
  const line = bytes.subarray(newline + 1, newline + 1 + Number(lineBytes));
  const stdin = bytes.subarray(newline + 1 + Number(lineBytes));
  return { mode, deadline, line: line.toString('utf8'), stdin, stdinBytes: Number(stdinBytes), files, fileBytes };
}

describe('encodeRequest', () => {
  const base = { runtime: { language: 'python' as const }, code: 'x', env: { A: 'b' }, files: [], timeoutMs: 5000 };

  it('writes a function run as a header and one line of JSON, with entry and wasm memory only when they are not the default', () => {
    const request = split(encodeRequest({ ...base, mode: 'function', input: { n: 1 } }));
    expect(request).toMatchObject({ mode: 'function', deadline: '5000', stdinBytes: 0, files: '0', fileBytes: '0' });
    // a run's header carries the output files it may give back
    expect(split(encodeRequest({ ...base, mode: 'function', input: 1 }, { count: 20, bytes: 4096 }))).toMatchObject({
      files: '20',
      fileBytes: '4096',
    });
    expect(request.stdin.length).toBe(0);
    expect(request.line.indexOf('\n')).toBe(request.line.length - 1);
    expect(JSON.parse(request.line)).toEqual({
      mode: 'function',
      language: 'python',
      code: 'x',
      env: { A: 'b' },
      files: [],
      deadline_ms: 5000,
      input: { n: 1 },
      args: [],
    });
    const wasm = JSON.parse(
      split(encodeRequest({ ...base, mode: 'function', input: undefined, entry: 'wasm', wasmMemoryBytes: 65536 })).line,
    );
    expect(wasm).toMatchObject({ input: null, entry: 'wasm', wasm_memory_bytes: 65536 });
    expect(JSON.parse(split(encodeRequest({ ...base, mode: 'function', input: 1, entry: 'execute' })).line)).not.toHaveProperty('entry');
  });

  it('writes a script with its args, and its stdin after the line, counted in bytes (multi-byte and lone surrogates too)', () => {
    const stdin = 'line\nwörld 🙂 \ud800 end';
    const request = split(encodeRequest({ ...base, code: 'ü', mode: 'script', args: ['a'], stdin }));
    expect(JSON.parse(request.line)).toMatchObject({ mode: 'script', code: 'ü', input: null, args: ['a'] });
    expect(JSON.parse(request.line)).not.toHaveProperty('stdin');
    expect(request.stdin.length).toBe(request.stdinBytes);
    expect(request.stdin.toString('utf8')).toBe('line\nwörld 🙂 \ufffd end');
  });

  it('refuses input nested too deeply to serialize, as a bad request', () => {
    let input: unknown = 0;
    for (let i = 0; i < 200_000; i++) input = [input];
    const attempt = () => encodeRequest({ ...base, mode: 'function', input });
    expect(attempt).toThrow(AppError);
    expect(attempt).toThrow(/nested too deeply/);
  });
});

describe('openBoxSession', () => {
  function fakeBox() {
    const sent: Buffer[] = [];
    let out!: (b: Buffer) => void;
    let err!: (b: Buffer) => void;
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const box = {
      send: (data: string | Buffer) => void sent.push(Buffer.from(data)),
      pendingBytes: () => 0,
      pipe: (onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void) => {
        out = onStdout;
        err = onStderr;
        return ended;
      },
    };
    return { box, sent, out: (b: Buffer) => out(b), err: (b: Buffer) => err(b), end: () => end() };
  }
  function fakeEgress() {
    const served: [Duplex, EgressSession][] = [];
    const ended: EgressSession[] = [];
    return {
      served,
      ended,
      proxy: { serve: (c: Duplex, s: EgressSession) => void served.push([c, s]), end: (s: EgressSession) => void ended.push(s) },
    };
  }
  const settled = async (p: Promise<unknown>) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 20))]);

  it('sends the request line, decodes the run and resolves on the exit frame', async () => {
    const f = fakeBox();
    const egress = fakeEgress();
    const session = { executionId: 'exec_1', rules: [] };
    const violations: string[] = [];
    const s = openBoxSession(f.box, {
      limits: roomy,
      egress: { proxy: egress.proxy, session, maxConnections: 2 },
      onViolation: (v) => violations.push(v),
    });
    s.send('{"mode":"script"}\n');
    expect(f.sent.map(String)).toEqual(['{"mode":"script"}\n']);
    f.out(Buffer.concat([frame('k', ''), frame('t', ''), frame('o', 'hi')]));
    expect(await settled(s.exited)).toBe(false);
    f.out(exitFrame(3));
    expect(await settled(s.exited)).toBe(true);
    expect(s.decoder.stdout.text()).toBe('hi');
    expect(s.decoder.exit).toEqual({ exit_code: 3, oom: false });
    expect(violations).toEqual([]);
    expect(await settled(s.ended)).toBe(false);
    f.end();
    expect(await settled(s.ended)).toBe(true);
    s.close();
    expect(egress.ended).toEqual([session]);
  });

  it('reports a violation once, as it happens, and never an exit after it', async () => {
    const f = fakeBox();
    const violations: string[] = [];
    const s = openBoxSession(f.box, {
      limits: { streamBytes: 4, resultBytes: 1024 },
      egress: { proxy: fakeEgress().proxy, session: { executionId: 'exec_2', rules: [] }, maxConnections: 2 },
      onViolation: (v) => violations.push(v),
    });
    f.err(Buffer.from('Traceback…'));
    expect(violations).toEqual(['output_limit']);
    f.out(Buffer.concat([frame('z', ''), exitFrame(0)]));
    f.err(Buffer.from('more'));
    expect(violations).toEqual(['output_limit']);
    expect(await settled(s.exited)).toBe(false);
  });

  it('carries a tunnelled connection to the egress proxy under its session, and closes it with the session', async () => {
    const f = fakeBox();
    const egress = fakeEgress();
    const session = { executionId: 'exec_3', rules: [] };
    const s = openBoxSession(f.box, { limits: roomy, egress: { proxy: egress.proxy, session, maxConnections: 2 } });
    const idBytes = Buffer.from([0, 0, 0, 5]);
    f.out(Buffer.concat([frame('c', idBytes), frame('d', Buffer.concat([idBytes, Buffer.from('ping')]))]));
    expect(egress.served).toHaveLength(1);
    const [channel, servedSession] = egress.served[0]!;
    expect(servedSession).toBe(session);
    expect(String(channel.read())).toBe('ping');
    channel.write('pong');
    await new Promise((r) => setImmediate(r));
    expect(f.sent).toEqual([encodeFrame('d', Buffer.concat([idBytes, Buffer.from('pong')]))]);
    s.close();
    await new Promise((r) => setImmediate(r));
    expect(f.sent.at(-1)).toEqual(encodeFrame('f', idBytes));
    expect(egress.ended).toEqual([session]);
  });
});
