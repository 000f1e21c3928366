import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { redactingOutput, redactingStream, redactJson } from '../../../src/execution/redact.js';

async function through(values: string[], chunks: (string | Buffer)[]): Promise<string> {
  const stream = redactingStream(values);
  const source = Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
  const out: Buffer[] = [];
  for await (const chunk of stream ? source.pipe(stream) : source) out.push(chunk as Buffer);
  return Buffer.concat(out).toString('utf8');
}

describe('redactingStream', () => {
  it('takes a secret out of bytes as they pass, even cut between chunks, and as JSON writes it', async () => {
    const secret = 'sk-"live"-0123456789';
    expect(await through([secret], ['before ', secret.slice(0, 5), secret.slice(5, 9), `${secret.slice(9)} after`])).toBe(
      'before [redacted secret] after',
    );
    expect(await through([secret], [`{"token":${JSON.stringify(secret)}}`])).toBe('{"token":"[redacted secret]"}');
    expect(await through([secret], [`${secret}${secret}`, 'x'])).toBe('[redacted secret][redacted secret]x');
  });

  it('passes bytes as they are when nothing is to be taken out; short values are not searched for', async () => {
    expect(redactingStream([])).toBeNull();
    expect(redactingStream(['abc'])).toBeNull();
    const binary = Buffer.from([0, 255, 1, 128, 10]);
    const stream = redactingStream(['a-long-secret'])!;
    const out: Buffer[] = [];
    for await (const chunk of Readable.from([binary]).pipe(stream)) out.push(chunk as Buffer);
    expect(Buffer.concat(out).equals(binary)).toBe(true);
  });
});

describe('redactJson', () => {
  it("takes a secret out of a value's strings, keeping it a value", () => {
    expect(redactJson({ out: 'the key is s3cr3t-value', n: 1 }, ['s3cr3t-value'])).toEqual({ out: 'the key is [redacted secret]', n: 1 });
    expect(redactJson({ a: 1 }, [])).toEqual({ a: 1 });
  });
});

describe('redactingOutput (a streamed run)', () => {
  it('hands on chunks with the secret taken out, per stream, never a piece of it nor a mark cut in two', () => {
    const secret = 'sk_0123456789abcdef0123';
    const got: { stream: string; text: string }[] = [];
    const out = redactingOutput([secret], { started: () => {}, output: (stream, data) => got.push({ stream, text: data.toString() }) });
    // the secret printed in pieces, with a line of stderr between them
    out.output('stdout', Buffer.from(`tick 0 ${secret.slice(0, 7)}`));
    out.output('stderr', Buffer.from('warn\n'));
    // (text after the second: the held-back tail would start inside its mark)
    out.output('stdout', Buffer.from(`${secret.slice(7)}\ntick 1 ${secret} and more\n`));
    out.end();
    const stdout = got.filter((g) => g.stream === 'stdout').map((g) => g.text);
    expect(stdout.join('')).toBe('tick 0 [redacted secret]\ntick 1 [redacted secret] and more\n');
    for (const chunk of stdout) {
      expect(chunk).not.toContain(secret.slice(0, 7));
      // a mark is whole in the chunk that has it
      expect(chunk.split('[redacted secret]').join('')).not.toMatch(/\[redacted|redacted secret\]|secret\]/);
    }
    expect(
      got
        .filter((g) => g.stream === 'stderr')
        .map((g) => g.text)
        .join(''),
    ).toBe('warn\n');
  });
});
