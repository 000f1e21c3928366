import { Transform } from 'node:stream';
import type { RunResult, RunStream } from '../sandbox/job.js';

const MARK = '[redacted secret]';
/** Shorter values are not searched for: replacing every "1" in the output would ruin it and hide nothing. */
const MIN_LENGTH = 4;

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const jsonEscaped = (v: string) => JSON.stringify(v).slice(1, -1);
/** JSON text as an ASCII-only encoder writes it: each UTF-16 unit past U+007E as a lower-case \uXXXX. */
const asciiEscaped = (json: string) => json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function replaceAll(text: string, needles: string[]): string {
  let out = text;
  for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join(MARK);
  return out;
}

/** The forms a secret takes in text: as it is, and as JSON (and an ASCII-only JSON encoder) writes it; longest first. */
function needlesOf(values: readonly string[]): { plain: string[]; json: string[]; printed: string[] } {
  const plain = [...new Set(values)].filter((v) => v.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
  // In JSON a secret appears as JSON escapes it (quotes, backslashes, controls), and, from an encoder
  // that writes ASCII only (Python's json.dumps by default), with every other character as \uXXXX too.
  const json = [...new Set(plain.flatMap((v) => [jsonEscaped(v), asciiEscaped(jsonEscaped(v))]))].sort((a, b) => b.length - a.length);
  const printed = [...new Set([...plain, ...json])].sort((a, b) => b.length - a.length);
  return { plain, json, printed };
}

/**
 * Takes the clear values of secrets out of any text kiln is about to answer, log or store (an
 * upstream's answer to a call kiln made with a credential, which may echo it): as they are and as
 * JSON writes them. Text that was JSON stays JSON (see redactSecrets).
 */
export function redactText(text: string, values: readonly string[]): string {
  const { printed } = needlesOf(values);
  return printed.length ? replaceAll(text, printed) : text;
}

/**
 * Takes the clear values of the execution's secrets out of what it answered, before the answer or
 * the executions log sees it. Defence in depth, not a wall: code that holds a secret in its env can
 * still encode it; what it cannot do is hand it back by printing or returning it as it is.
 */
export function redactSecrets(result: RunResult, values: string[]): RunResult {
  const { plain, json, printed } = needlesOf(values);
  if (!plain.length) return result;
  let outputJson = result.outputJson;
  if (outputJson !== null) {
    const redacted = replaceAll(outputJson, json);
    // The mark needs no escaping, so a value cut inside a string is still JSON; a secret that matched
    // across JSON syntax (a value like `":1`) may leave none: then no output rather than a broken one.
    if (redacted !== outputJson) outputJson = isJson(redacted) ? redacted : null;
  }
  // printed output may hold a value as it is or as JSON writes it (print(json.dumps(env)), say)
  const bytes = result.files && bytesRedactor(values);
  return {
    ...result,
    ...(bytes ? { files: result.files!.map((f) => ({ path: f.path, data: bytes(f.data) })) } : {}),
    stdout: replaceAll(result.stdout, printed),
    stderr: replaceAll(result.stderr, printed),
    outputJson,
    outputStatus: outputJson === null && result.outputJson !== null ? 'error' : result.outputStatus,
  };
}

/**
 * Takes the clear values of secrets out of a value kiln is about to answer or log whole (a session
 * call's answer): as JSON writes them. A value a secret cut across JSON syntax is replaced by the mark.
 */
export function redactJson<T>(value: T, values: readonly string[]): T | string {
  const { json } = needlesOf(values);
  if (!json.length) return value;
  const text = JSON.stringify(value);
  const redacted = replaceAll(text, json);
  if (redacted === text) return value;
  return isJson(redacted) ? (JSON.parse(redacted) as T) : MARK;
}

const MARK_BYTES = Buffer.from(MARK);

/** Where to cut what is handed on from what is held back: never inside a mark (a reader sees it whole). */
function cutOutside(bytes: Buffer, cut: number): number {
  const mark = bytes.lastIndexOf(MARK_BYTES, cut - 1);
  return mark >= 0 && mark + MARK_BYTES.length > cut ? mark : cut;
}

/** Takes the values out of bytes, as they are and as JSON writes them (their UTF-8); null when there are none to look for. */
function bytesRedactor(values: readonly string[]): (((bytes: Buffer) => Buffer) & { holdBack: number }) | null {
  const needles = needlesOf(values).printed.map((needle) => Buffer.from(needle));
  if (!needles.length) return null;
  const redact = (bytes: Buffer): Buffer => {
    let out: Buffer = bytes;
    for (const needle of needles)
      for (let at = out.indexOf(needle); at >= 0; at = out.indexOf(needle, at + MARK_BYTES.length))
        out = Buffer.concat([out.subarray(0, at), MARK_BYTES, out.subarray(at + needle.length)]);
    return out;
  };
  return Object.assign(redact, { holdBack: Math.max(...needles.map((needle) => needle.length)) - 1 });
}

/**
 * A stream that takes the secrets' values out of bytes as they pass (a session's file on its way
 * out: an upstream may have echoed a credential into it), as they are and as JSON writes them; a
 * value cut between two chunks is still found (the stream holds back one value's length). Null when
 * there is nothing to take out.
 */
export function redactingStream(values: readonly string[]): Transform | null {
  const redact = bytesRedactor(values);
  if (!redact) return null;
  const { holdBack } = redact;
  let pending: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const all = redact(Buffer.concat([pending, chunk]));
      const cut = cutOutside(all, Math.max(0, all.length - holdBack));
      pending = all.subarray(cut);
      done(null, all.subarray(0, cut));
    },
    flush(done) {
      done(null, redact(pending));
    },
  });
}

/**
 * A streamed run's output with the secrets' values taken out on the way (as redactingStream does,
 * per stream: what may be the start of a value is held back until the next bytes tell); `end`
 * hands on what was held back, once the run has ended. The listener itself when there are none.
 */
export function redactingOutput(values: readonly string[], to: RunStream): RunStream & { end(): void } {
  const redact = bytesRedactor(values);
  if (!redact) return { ...to, end() {} };
  const pending: Record<'stdout' | 'stderr', Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
  const flush = () => {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = redact(pending[stream]);
      pending[stream] = Buffer.alloc(0);
      if (rest.length) to.output(stream, rest);
    }
  };
  return {
    started: (id) => to.started(id),
    display(bundle) {
      flush(); // what was printed before it goes out before it
      const shown = redactJson(bundle, values);
      if (typeof shown === 'object') to.display?.(shown); // (a bundle that no longer parses is shown in the answer only)
    },
    output(stream, data) {
      const all = redact(Buffer.concat([pending[stream], data]));
      const cut = cutOutside(all, Math.max(0, all.length - redact.holdBack));
      pending[stream] = all.subarray(cut);
      if (cut) to.output(stream, all.subarray(0, cut));
    },
    end: flush,
  };
}
