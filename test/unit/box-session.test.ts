import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/sandbox/box-session.js';

/** One wrapper frame: kind byte + 4-byte big-endian length + payload. */
function frame(kind: string, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.alloc(5);
  head.write(kind, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

const roomy = { streamBytes: 1024, resultBytes: 1024 };
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
