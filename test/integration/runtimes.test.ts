// Every runtimes/<lang>/smoke/ program runs through the real wrapper in the real image.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

const root = join(import.meta.dirname, '../../runtimes');
const runtimes = readdirSync(root).filter((name) => existsSync(join(root, name, 'smoke')));
const cases = runtimes.flatMap((runtime) => {
  const dir = join(root, runtime, 'smoke');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const expected = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const source = readdirSync(dir).find((s) => s !== f && s.startsWith(f.replace(/\.json$/, '.')))!;
      return { name: `${runtime}/smoke/${source}`, code: readFileSync(join(dir, source), 'utf8'), ...expected };
    });
});

let kiln: TestKiln;
beforeAll(async () => (kiln = await startTestKiln()));
afterAll(() => kiln.close());

describe('runtime smoke programs', () => {
  it('finds at least one smoke program per language', () => {
    expect(new Set(cases.map((c) => c.language))).toEqual(new Set(['python', 'javascript', 'typescript']));
  });
  it.each(cases)('$name', async (c) => {
    const res = await kiln.post('/v1/execute-function', { language: c.language, code: c.code, input: c.input, files: c.files });
    expect(res.status).toBe(200);
    expect(res.body.execution.stderr).toBe(c.stderr);
    expect(res.body.execution.stdout).toBe(c.stdout);
    expect(res.body.output_status).toBe('valid');
    expect(res.body.output).toEqual(c.output);
    expect(res.body.execution.exit_code).toBe(0);
  });
});
