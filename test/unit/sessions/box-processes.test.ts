import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES } from '../../../src/sandbox/box-protocol.js';
import { createBoxProcesses } from '../../../src/sessions/box-processes.js';

/** The frames kiln wrote: kind, the process id, the rest as text. */
function sent() {
  const frames: { kind: string; id: number; body: string }[] = [];
  const send = (f: Buffer) => {
    const payload = f.subarray(FRAME_HEADER_BYTES);
    frames.push({ kind: String.fromCharCode(f[0]!), id: payload.readUInt32BE(0), body: payload.subarray(4).toString() });
  };
  return { frames, send };
}

describe('a session box’s processes', () => {
  it('starts one by its own id, streams its output, writes its stdin, signals it, and ends it', async () => {
    const { frames, send } = sent();
    const procs = createBoxProcesses(send);
    const out: string[] = [];
    const started = procs.spawn({ argv: ['cat'], stdin: true }, (stream, data) => out.push(`${stream}:${data}`));
    expect(frames[0]).toEqual({ kind: 'p', id: 1, body: JSON.stringify({ argv: ['cat'], stdin: true }) });
    procs.onFrame('P', 1, Buffer.from('{"pid":321}'));
    const proc = await started;
    expect(proc.pid).toBe(321);
    proc.write(Buffer.from('hi'));
    proc.write(Buffer.alloc(0)); // nothing to write: no frame (an empty n closes the stdin)
    proc.closeStdin();
    proc.signal(15);
    expect(frames.slice(1)).toEqual([
      { kind: 'n', id: 1, body: 'hi' },
      { kind: 'n', id: 1, body: '' },
      { kind: 's', id: 1, body: '{"signal":15}' },
    ]);
    procs.onFrame('O', 1, Buffer.from('hi'));
    procs.onFrame('E', 1, Buffer.from('warn'));
    procs.onFrame('O', 99, Buffer.from('nobody’s')); // no such process: dropped
    procs.onFrame('X', 1, Buffer.from('{"exit_code":143,"signal":15}'));
    expect(await proc.ended).toEqual({ exitCode: 143, signal: 15, lost: false });
    expect(out).toEqual(['stdout:hi', 'stderr:warn']);
  });

  it('rejects one the box could not start, with its reason; ends the running ones as lost with the box', async () => {
    const { send } = sent();
    const procs = createBoxProcesses(send);
    const bad = procs.spawn({ argv: ['/nope'] }, () => {});
    procs.onFrame('P', 1, Buffer.from('{"error":"No such file or directory"}'));
    await expect(bad).rejects.toThrow('No such file or directory');
    const running = procs.spawn({ argv: ['sleep', '9'] }, () => {});
    procs.onFrame('P', 2, Buffer.from('{"pid":5}'));
    const proc = await running;
    procs.endAll();
    expect(await proc.ended).toEqual({ exitCode: 137, signal: 9, lost: true });
  });
});
