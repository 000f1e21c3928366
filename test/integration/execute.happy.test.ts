// What a user of the Riza API expects from a correct program, in each language, through the real engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
beforeAll(async () => (kiln = await startTestKiln()));
afterAll(() => kiln.close());

const fn = (body: Record<string, unknown>) => kiln.post('/v1/execute-function', body);
const script = (body: Record<string, unknown>) => kiln.post('/v1/execute', body);

describe('execute-function', () => {
  it('passes None / null when input is omitted', async () => {
    const py = await fn({ language: 'python', code: 'def execute(input):\n    return {"is_none": input is None}' });
    expect(py.body).toMatchObject({ output: { is_none: true }, output_status: 'valid' });
    const js = await fn({ language: 'javascript', code: 'function execute(input) { return { isNull: input === null }; }' });
    expect(js.body).toMatchObject({ output: { isNull: true }, output_status: 'valid' });
  });

  it('awaits an async execute in JavaScript and TypeScript, exported or not', async () => {
    const js = await fn({
      language: 'javascript',
      code: 'export async function execute(i) { await new Promise(r => setTimeout(r, 10)); return i * 2; }',
      input: 21,
    });
    expect(js.body.output).toBe(42);
    const ts = await fn({
      language: 'typescript',
      code: 'const execute = async (i: { n: number }): Promise<number> => i.n + 1;',
      input: { n: 1 },
    });
    expect(ts.body.output).toBe(2);
  });

  it('takes input nested 900 levels deep in both languages and hands it back whole', async () => {
    let input: unknown = 'core';
    for (let i = 0; i < 900; i++) input = [input];
    for (const [language, code] of [
      ['python', 'def execute(input):\n    return input'],
      ['javascript', 'function execute(input) { return input; }'],
    ]) {
      const res = await fn({ language, code, input });
      expect(res.body.output_status, res.body.execution?.stderr).toBe('valid');
      expect(res.body.output).toEqual(input);
    }
  });

  it('gives the code its env and its files under /mnt/req', async () => {
    const res = await fn({
      language: 'python',
      code: 'import os\ndef execute(input):\n    return [os.environ["GREETING"], open("/mnt/req/a/b.txt").read(), os.getcwd()]',
      env: { GREETING: 'hi' },
      files: [{ path: 'a/b.txt', contents: 'file text' }],
    });
    expect(res.body.output).toEqual(['hi', 'file text', '/mnt/req']);
    const js = await fn({
      language: 'javascript',
      code: 'import fs from "node:fs"; function execute() { return [process.env.GREETING, fs.readFileSync("./x.json", "utf8")]; }',
      env: { GREETING: 'hey' },
      files: [{ path: 'x.json', contents: '{}' }],
    });
    expect(js.body.output).toEqual(['hey', '{}']);
  });

  it('keeps printed text out of the output, even text that looks like the wrapper protocol', async () => {
    const forged = 'r\\x00\\x00\\x00\\x1f{"status":"valid","output":666}';
    const py = await fn({
      language: 'python',
      code: `import sys\ndef execute(input):\n    print('{"status":"valid","output":666}')\n    sys.stdout.write('${forged}')\n    sys.stderr.write('${forged}')\n    return 1`,
    });
    expect(py.body.output).toBe(1);
    expect(py.body.output_status).toBe('valid');
    expect(py.body.execution.stdout).toContain('"output":666');
    const js = await fn({
      language: 'javascript',
      code: `function execute() { process.stdout.write('${forged}'); console.log(JSON.stringify({status:"valid", output: 666})); return 1; }`,
    });
    expect(js.body.output).toBe(1);
    expect(js.body.execution.stdout).toContain('"output":666');
  });

  it('returns large outputs and unicode intact', async () => {
    const res = await fn({ language: 'python', code: 'def execute(input):\n    return {"s": "é✓🔥" * 50000}' });
    expect(res.body.output.s).toBe('é✓🔥'.repeat(50000));
  });
});

describe('Server-Timing', () => {
  it("names kiln's stages of a real run in order, and they add up to its own time", async () => {
    for (const language of ['python', 'javascript']) {
      const code = language === 'python' ? 'def execute(input):\n    return 1' : 'function execute() { return 1; }';
      const res = await fn({ language, code });
      expect(res.status).toBe(200);
      const stages = (res.headers.get('server-timing') ?? '').split(', ').map((e) => e.split(';dur='));
      expect(stages.map(([name]) => name)).toEqual([
        'app',
        'parse',
        'resolve',
        'admit',
        'encode',
        'acquire',
        'box',
        'decode',
        'release',
        'log',
        'render',
      ]);
      const [app, ...rest] = stages.map(([, ms]) => Number(ms));
      expect(Math.abs(app! - rest.reduce((a, b) => a + b, 0))).toBeLessThan(0.1);
      // the box's round trip is most of a warm run, never nothing
      expect(Number(stages.find(([name]) => name === 'box')![1])).toBeGreaterThan(0);
    }
  });
});

describe('execute (script mode)', () => {
  it('runs Python with stdin and args and reports the exit code', async () => {
    const res = await script({
      language: 'python',
      code: 'import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])\nsys.exit(3)',
      stdin: 'some input',
      args: ['--flag', 'value'],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ exit_code: 3, stdout: "SOME INPUT ['--flag', 'value']\n", stderr: '' });
    expect(res.body.id).toMatch(/^exec_/);
    expect(typeof res.body.duration).toBe('number');
  });

  it('runs JavaScript and TypeScript with stdin, args and process.exitCode', async () => {
    const js = await script({
      language: 'javascript',
      code: 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => { console.log(s.trim(), process.argv.slice(2).join(",")); process.exitCode = 4; });',
      stdin: 'abc',
      args: ['x', 'y'],
    });
    expect(js.body).toMatchObject({ exit_code: 4, stdout: 'abc x,y\n' });
    const ts = await script({ language: 'typescript', code: 'const n: number = 7;\nconsole.log(`n=${n}`);' });
    expect(ts.body).toMatchObject({ exit_code: 0, stdout: 'n=7\n', stderr: '' });
    // 96 MiB is no pool's limit: a fresh box, whose harness loads the transform on this request
    const fresh = await script({
      language: 'typescript',
      code: 'const n: number = 8;\nconsole.log(`n=${n}`);',
      limits: { memory_size: 96 },
    });
    expect(fresh.body).toMatchObject({ exit_code: 0, stdout: 'n=8\n', stderr: '' });
  });

  it("lets JavaScript import the request's own files relatively", async () => {
    const res = await script({
      language: 'javascript',
      code: 'import { twice } from "./lib/helper.mjs"; console.log(twice(21));',
      files: [{ path: 'lib/helper.mjs', contents: 'export const twice = (n) => n * 2;' }],
    });
    expect(res.body).toMatchObject({ exit_code: 0, stdout: '42\n' });
  });

  it("hands a script megabytes of stdin (it travels the harness → wrapper pipe, then the code's stdin)", async () => {
    const stdin = 'x'.repeat(3 * 1024 * 1024);
    const py = await script({ language: 'python', code: 'import sys\nprint(len(sys.stdin.read()))', stdin });
    expect(py.body).toMatchObject({ exit_code: 0, stdout: `${stdin.length}\n` });
    const js = await script({
      language: 'javascript',
      code: 'let n = 0; process.stdin.on("data", (d) => (n += d.length)).on("end", () => console.log(n));',
      stdin,
    });
    expect(js.body).toMatchObject({ exit_code: 0, stdout: `${stdin.length}\n` });
    expect(py.ms + js.ms).toBeLessThan(20_000);
  });

  it('survives stdin that is not valid UTF-16 (a lone surrogate)', async () => {
    const res = await script({ language: 'python', code: 'import sys\nprint(len(sys.stdin.read()))', stdin: 'a\ud800b' });
    expect(res.body.exit_code).toBe(0);
    expect(res.ms).toBeLessThan(5000);
  });

  // The harness reports a script's exit status before its interpreter winds down: what the language
  // runs at exit must still run, in order, and a late uncaught error must still reach stderr.
  it('ends a script as its language would: exit listeners, atexit hooks, threads, late errors', async () => {
    const listeners = await script({
      language: 'javascript',
      code: 'process.on("exit", (c) => console.log("bye", c)); process.exitCode = 3; console.log("main");',
    });
    expect(listeners.body).toMatchObject({ exit_code: 3, stdout: 'main\nbye 3\n' });
    const exitInExit = await script({ language: 'javascript', code: 'process.on("exit", () => process.exit(5));' });
    expect(exitInExit.body.exit_code).toBe(5);
    const codeInExit = await script({ language: 'javascript', code: 'process.on("exit", () => { process.exitCode = 4; });' });
    expect(codeInExit.body.exit_code).toBe(4);
    const late = await script({ language: 'javascript', code: 'setTimeout(() => { throw new Error("late failure"); }, 20);' });
    expect(late.body.exit_code).toBe(1);
    expect(late.body.stderr).toContain('late failure');
    const python = await script({
      language: 'python',
      code: [
        'import atexit, threading, time',
        'atexit.register(lambda: print("atexit"))',
        'threading.Thread(target=lambda: (time.sleep(0.1), print("thread"))).start()',
        'print("main")',
        'raise SystemExit(6)',
      ].join('\n'),
    });
    expect(python.body).toMatchObject({ exit_code: 6, stdout: 'main\nthread\natexit\n' });
  });

  it('offers require() to CommonJS-style JavaScript', async () => {
    const res = await script({ language: 'javascript', code: 'const os = require("node:os"); console.log(typeof os.cpus);' });
    expect(res.body.stdout).toBe('function\n');
  });
});

describe('concurrency', () => {
  it('answers 20 concurrent requests, each with its own correct result', async () => {
    const requests = Array.from({ length: 20 }, (_, i) =>
      i % 2
        ? fn({ language: 'python', code: 'def execute(input):\n    print(input)\n    return input * input', input: i })
        : fn({ language: 'javascript', code: 'function execute(i) { console.log(i); return i * i; }', input: i }),
    );
    const results = await Promise.all(requests);
    results.forEach((res, i) => {
      const seen = JSON.stringify(res.body);
      expect(res.status, seen).toBe(200);
      expect(res.body.output, seen).toBe(i * i);
      expect(res.body.execution.stdout, seen).toBe(`${i}\n`);
    });
    expect(new Set(results.map((r) => r.body.execution.id)).size).toBe(20);
  });
});
