/**
 * What the code interpreter's NDJSON stream says of a cell's output (./interpreter.ts): its results
 * as E2B's fields, and its stdout and stderr a line a message where it can.
 */
import { StringDecoder } from 'node:string_decoder';

/** Jupyter's MIME types as E2B's result fields. */
const FIELDS: Record<string, string> = {
  'text/plain': 'text',
  'text/html': 'html',
  'text/markdown': 'markdown',
  'image/svg+xml': 'svg',
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'application/pdf': 'pdf',
  'text/latex': 'latex',
  'application/json': 'json',
  'application/javascript': 'javascript',
  'e2b/data': 'data',
  'e2b/chart': 'chart',
};
const LINE_WAIT_MS = 20;

/** A result bundle (MIME types) as a `result` line of E2B's stream. */
export function resultLine(bundle: Record<string, unknown>) {
  const out: Record<string, unknown> = { type: 'result' };
  for (const [mime, value] of Object.entries(bundle)) out[mime === 'is_main_result' ? mime : (FIELDS[mime] ?? mime)] = value;
  out.is_main_result = bundle.is_main_result === true;
  return out;
}

/**
 * Output as E2B's interpreter gives it, a line a message where it can: whole lines go at once, a
 * line's start waits for its end a moment (LINE_WAIT_MS), so that print's two writes are one message.
 */
export function linesOf(emit: (stream: 'stdout' | 'stderr', text: string) => void) {
  const pending = { stdout: '', stderr: '' };
  // UTF-8 whole: a character cut between two writes waits for its end
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const timers: Partial<Record<'stdout' | 'stderr', NodeJS.Timeout>> = {};
  const out = (stream: 'stdout' | 'stderr') => {
    clearTimeout(timers[stream]);
    if (pending[stream]) emit(stream, pending[stream]);
    pending[stream] = '';
  };
  return {
    write(stream: 'stdout' | 'stderr', data: Buffer) {
      const text = pending[stream] + decoders[stream].write(data);
      const cut = text.lastIndexOf('\n') + 1;
      if (cut) emit(stream, text.slice(0, cut));
      pending[stream] = text.slice(cut);
      clearTimeout(timers[stream]);
      if (pending[stream]) timers[stream] = setTimeout(() => out(stream), LINE_WAIT_MS);
    },
    flush() {
      out('stdout');
      out('stderr');
    },
  };
}
