// Failures of the user's code are data in a 200, never a 4xx/5xx, as Riza reports them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
beforeAll(async () => (kiln = await startTestKiln()));
afterAll(() => kiln.close());

const fn = (body: Record<string, unknown>) => kiln.post('/v1/execute-function', body);

describe('errors of the code', () => {
  it.each([
    ['python', 'def execute(input):\n    return {1, 2}'],
    ['python', 'def execute(input):\n    return float("nan")'],
    ['javascript', 'function execute() { return 10n; }'],
    ['javascript', 'function execute() { const a = {}; a.self = a; return a; }'],
    ['typescript', 'function execute(): unknown { return { big: BigInt(1) }; }'],
  ])('%s: a value JSON cannot hold is json_serialization_error (%s)', async (language, code) => {
    const res = await fn({ language, code });
    expect(res.status).toBe(200);
    expect(res.body.output_status).toBe('json_serialization_error');
    expect(res.body.output).toBeNull();
    expect(res.body.execution.stderr).toContain('not JSON-serializable');
  });

  it('reports a Python exception with its traceback and a non-zero exit code', async () => {
    const res = await fn({
      language: 'python',
      code: 'def execute(input):\n    return helper()\n\ndef helper():\n    raise ValueError("boom")',
    });
    expect(res.status).toBe(200);
    expect(res.body.output_status).toBe('error');
    expect(res.body.output).toBeNull();
    expect(res.body.execution.exit_code).not.toBe(0);
    expect(res.body.execution.stderr).toContain('Traceback (most recent call last)');
    expect(res.body.execution.stderr).toContain('line 5, in helper');
    expect(res.body.execution.stderr).toContain('raise ValueError("boom")');
    expect(res.body.execution.stderr).not.toContain('harness.py');
  });

  it('reports a JavaScript throw and a rejected promise', async () => {
    const thrown = await fn({ language: 'javascript', code: 'function execute() { throw new TypeError("bad thing"); }' });
    expect(thrown.body.output_status).toBe('error');
    expect(thrown.body.execution.exit_code).toBe(1);
    expect(thrown.body.execution.stderr).toContain('TypeError: bad thing');
    const rejected = await fn({ language: 'javascript', code: 'async function execute() { await null; throw new Error("later"); }' });
    expect(rejected.body.output_status).toBe('error');
    expect(rejected.body.execution.stderr).toContain('Error: later');
  });

  it('reports syntax errors and a missing execute()', async () => {
    const py = await fn({ language: 'python', code: 'def execute(input)\n    return 1' });
    expect(py.body.output_status).toBe('error');
    expect(py.body.execution.stderr).toContain('SyntaxError');
    const noFn = await fn({ language: 'python', code: 'x = 1' });
    expect(noFn.body.output_status).toBe('error');
    expect(noFn.body.execution.stderr).toContain('execute(input)');
    const js = await fn({ language: 'javascript', code: 'const x = 1;' });
    expect(js.body.output_status).toBe('error');
    expect(js.body.execution.stderr).toMatch(/execute/);
    const ts = await fn({ language: 'typescript', code: 'function execute(: number {' });
    expect(ts.body.output_status).toBe('error');
    expect(ts.body.execution.exit_code).toBe(1);
    expect(ts.body.execution.stderr).toContain('SyntaxError: main.ts');
  });

  it('treats sys.exit in execute() as an error with that exit code', async () => {
    const res = await fn({ language: 'python', code: 'import sys\ndef execute(input):\n    sys.exit(7)' });
    expect(res.body.output_status).toBe('error');
    expect(res.body.execution.exit_code).toBe(7);
  });

  it('answers in time when execute() returns but leaves a timer or thread running', async () => {
    const js = await fn({
      language: 'javascript',
      code: 'function execute() { setInterval(() => {}, 1000); return "done"; }',
      limits: { execution_timeout: 10 },
    });
    expect(js.body).toMatchObject({ output: 'done', output_status: 'valid' });
    expect(js.ms).toBeLessThan(5000);
  });
});

describe('bad requests', () => {
  it('rejects a timeout above the configured maximum with a message naming it', async () => {
    const res = await fn({ language: 'python', code: 'def execute(i): pass', limits: { execution_timeout: 100000 } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe(3);
    expect(res.body.message).toContain('limits.execution_timeout');
    expect(res.body.message).toContain('300');
  });
});
