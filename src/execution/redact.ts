import type { RunResult } from './job.js';

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

/**
 * Takes the clear values of the execution's secrets out of what it answered, before the answer or
 * the executions log sees it. Defence in depth, not a wall: code that holds a secret in its env can
 * still encode it; what it cannot do is hand it back by printing or returning it as it is.
 */
export function redactSecrets(result: RunResult, values: string[]): RunResult {
  const needles = [...new Set(values)].filter((v) => v.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
  if (!needles.length) return result;
  // In the JSON of the return value a secret appears as JSON escapes it (quotes, backslashes, controls),
  // and, from an encoder that writes ASCII only (Python's json.dumps by default), with every other
  // character as a \uXXXX escape too.
  const jsonNeedles = [...new Set(needles.flatMap((v) => [jsonEscaped(v), asciiEscaped(jsonEscaped(v))]))].sort((a, b) => b.length - a.length);
  let outputJson = result.outputJson;
  if (outputJson !== null) {
    const redacted = replaceAll(outputJson, jsonNeedles);
    // The mark needs no escaping, so a value cut inside a string is still JSON; a secret that matched
    // across JSON syntax (a value like `":1`) may leave none: then no output rather than a broken one.
    if (redacted !== outputJson) outputJson = isJson(redacted) ? redacted : null;
  }
  // printed output may hold a value as it is or as JSON writes it (print(json.dumps(env)), say)
  const printed = [...new Set([...needles, ...jsonNeedles])].sort((a, b) => b.length - a.length);
  return {
    ...result,
    stdout: replaceAll(result.stdout, printed),
    stderr: replaceAll(result.stderr, printed),
    outputJson,
    outputStatus: outputJson === null && result.outputJson !== null ? 'error' : result.outputStatus,
  };
}
