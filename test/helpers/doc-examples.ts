// The code blocks of the manual (README.md, docs/*.md) as test/integration/docs-examples.test.ts runs
// them: fenced blocks, shell commands split into steps, and the answers the page shows after a step.
//
// The page's conventions, which this reads:
//   - a block fenced ```sh (or bash, shell) is run; any other block, and a shell block that should not
//     run, says why in its info string: ```json no-run=client (the reasons are the test's NOT_RUN);
//   - an answer the page shows is a comment right after the command, or at its end, that starts with
//     `{`, `[` or `HTTP/`: JSON in which `…` stands for whatever kiln says (a value, the rest of a
//     string, more array elements or object members); `-i` answers show the status line and headers first.

export interface Block {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** The reason after `no-run=`, when the block is not run. */
  noRun?: string;
  code: string;
}

/** The fenced code blocks of a markdown page, fences indented in lists included. */
export function codeBlocks(page: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]!)) {
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart());
      j++;
    }
    const words = info.trim().split(/\s+/);
    const noRun = words.find((w) => w.startsWith('no-run'));
    blocks.push({
      page,
      line: i + 1,
      lang: words[0] ?? '',
      noRun: noRun === undefined ? undefined : noRun.slice('no-run='.length),
      code: body.join('\n'),
    });
    i = j;
  }
  return blocks;
}

export interface Step {
  /** The command, as written (continuation lines included). */
  code: string;
  /** 1-based line within the block. */
  line: number;
  /** The answer the page shows for it, without the comment marks. */
  answer?: string;
}

/** Splits a shell block into top-level commands, each with the answer shown after it, if any. */
export function shellSteps(code: string): Step[] {
  const lines = code.split('\n');
  const steps: Step[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    if (first.trim() === '' || first.trimStart().startsWith('#')) {
      i++;
      continue;
    }
    const start = i;
    const scan = new ShellScan();
    let trailing = '';
    for (;;) {
      trailing = scan.line(lines[i]!);
      i++;
      if (scan.complete() || i >= lines.length) break;
    }
    if (!scan.complete()) throw new Error(`line ${start + 1}: a command that never ends (an open quote or parenthesis)`);
    const comments: string[] = [];
    while (i < lines.length && lines[i]!.trimStart().startsWith('#')) comments.push(lines[i++]!.trimStart().replace(/^# ?/, ''));
    const answerAt = /^(\{|\[|HTTP\/)/;
    const answer = answerAt.test(trailing)
      ? [trailing, ...comments].join('\n')
      : answerAt.test(comments[0] ?? '')
        ? comments.join('\n')
        : undefined;
    steps.push({ code: lines.slice(start, i - comments.length).join('\n'), line: start + 1, answer });
  }
  return steps;
}

/** Just enough of the shell's grammar to tell where a command ends: quotes, `$( )`, `\` at a line's end, comments. */
class ShellScan {
  private stack: ('top' | 'paren' | 'dq' | 'sq')[] = ['top'];
  private continued = false;

  /** Scans one line; answers the comment at its end (outside quotes), if any. */
  line(text: string): string {
    this.continued = false;
    for (let k = 0; k < text.length; k++) {
      const c = text[k]!;
      const state = this.stack[this.stack.length - 1]!;
      if (state === 'sq') {
        if (c === "'") this.stack.pop();
      } else if (state === 'dq') {
        if (c === '\\') k++;
        else if (c === '"') this.stack.pop();
        else if (c === '$' && text[k + 1] === '(') this.stack.push('paren'), k++;
      } else if (c === '\\') {
        if (k === text.length - 1) this.continued = true;
        k++;
      } else if (c === "'") this.stack.push('sq');
      else if (c === '"') this.stack.push('dq');
      else if (c === '$' && text[k + 1] === '(') this.stack.push('paren'), k++;
      else if (c === '(') this.stack.push('paren');
      else if (c === ')' && state === 'paren') this.stack.pop();
      else if (c === '#' && (k === 0 || /\s/.test(text[k - 1]!))) return text.slice(k).replace(/^#\s*/, '');
    }
    return '';
  }

  complete(): boolean {
    return !this.continued && this.stack.length === 1;
  }
}

// ---------------------------------------------------------------------------------- shown answers

/** `…` in a shown answer: any value, any rest of a string, more elements or members. */
export const ANY = Symbol('…');
export type Shape = typeof ANY | null | boolean | number | string | Shape[] | { [key: string]: Shape };

/** Reads one JSON value, with `…` allowed where the page elides, from the start of `text`; the rest is prose. */
export function parseShape(text: string): Shape {
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`shown answer: ${what} at ${at}: ${text.slice(at, at + 40)}`);
  };
  const ws = () => {
    while (/\s/.test(text[at] ?? '')) at++;
  };
  const value = (): Shape => {
    ws();
    const c = text[at];
    if (c === '…') return (at++, ANY);
    if (c === '{') {
      at++;
      const object: Record<string, Shape> = {};
      for (;;) {
        ws();
        if (text[at] === '}') return (at++, object);
        if (text[at] === '…') at++;
        else {
          const key = string();
          ws();
          if (text[at++] !== ':') fail('expected :');
          object[key] = value();
        }
        ws();
        if (text[at] === ',') at++;
        else if (text[at] !== '}') fail('expected , or }');
      }
    }
    if (c === '[') {
      at++;
      const array: Shape[] = [];
      for (;;) {
        ws();
        if (text[at] === ']') return (at++, array);
        array.push(value());
        ws();
        if (text[at] === ',') at++;
        else if (text[at] !== ']') fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    const literal = /^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(at));
    if (!literal) return fail('expected a value');
    at += literal[0].length;
    return JSON.parse(literal[0]) as Shape;
  };
  const string = (): string => {
    ws();
    const m = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(at));
    if (!m) return fail('expected a string');
    at += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  return value();
}

const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split('…')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[\\s\\S]*')}$`,
  );

/** Where `actual` departs from the shape (undefined when it has it): every key shown is there, every value shown matches. */
export function mismatch(shape: Shape, actual: unknown, path = '$'): string | undefined {
  const got = () => `${path}: expected ${show(shape)}, got ${JSON.stringify(actual)?.slice(0, 200)}`;
  if (shape === ANY) return undefined;
  if (typeof shape === 'string') return typeof actual === 'string' && glob(shape).test(actual) ? undefined : got();
  if (shape === null || typeof shape !== 'object') return actual === shape ? undefined : got();
  if (Array.isArray(shape)) {
    if (!Array.isArray(actual)) return got();
    const more = shape.indexOf(ANY);
    const shown = more < 0 ? shape : shape.slice(0, more);
    if (more < 0 ? actual.length !== shown.length : actual.length < shown.length) return got();
    for (const [k, s] of shown.entries()) {
      const off = mismatch(s, actual[k], `${path}[${k}]`);
      if (off) return off;
    }
    return undefined;
  }
  if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return got();
  for (const [key, s] of Object.entries(shape)) {
    if (!(key in actual)) return `${path}.${key}: missing in ${JSON.stringify(actual).slice(0, 300)}`;
    const off = mismatch(s, (actual as Record<string, unknown>)[key], `${path}.${key}`);
    if (off) return off;
  }
  return undefined;
}

function show(shape: Shape): string {
  if (shape === ANY) return '…';
  if (Array.isArray(shape)) return `[${shape.map(show).join(',')}]`;
  if (shape && typeof shape === 'object') return `{${Object.entries(shape).map(([k, v]) => `${JSON.stringify(k)}:${show(v)}`)}}`;
  return JSON.stringify(shape);
}

/** The HTTP status a shown `-i` answer names, if it is one. */
export function shownStatus(answer: string | undefined): number | undefined {
  const m = /^HTTP\/[\d.]+ (\d{3})/.exec(answer ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Where what a step printed departs from the answer the page shows for it. */
export function answerMismatch(answer: string, printed: string): string | undefined {
  let body = printed.trim();
  let shown = answer;
  if (answer.startsWith('HTTP/')) {
    const head = printed.replace(/\r/g, '').split('\n\n')[0]!.split('\n');
    body = printed.replace(/\r/g, '').split('\n\n').slice(1).join('\n\n').trim();
    const lines = answer.split('\n');
    let k = 0;
    for (; k < lines.length && !/^[{[]/.test(lines[k]!); k++) {
      const line = lines[k]!.trim();
      if (k === 0) {
        if (!glob(line).test(head[0]!.trim())) return `status line: expected ${line}, got ${head[0]}`;
        continue;
      }
      const [name, ...rest] = line.split(':');
      const value = rest.join(':').trim();
      const header = head.find((h) => h.toLowerCase().startsWith(`${name!.toLowerCase()}:`));
      if (!header || !glob(value).test(header.slice(name!.length + 1).trim())) return `header ${name}: expected ${value}, got ${header}`;
    }
    shown = lines.slice(k).join('\n');
    if (shown.trim() === '') return undefined;
  }
  let actual: unknown;
  try {
    actual = JSON.parse(body);
  } catch {
    return `expected JSON, got: ${body.slice(0, 300)}`;
  }
  return mismatch(parseShape(shown), actual);
}
