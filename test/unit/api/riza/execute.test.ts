import { describe, expect, it, vi } from 'vitest';
import type { FunctionJob, RunResult } from '../../../../src/sandbox/job.js';
import { auth, buildTestApp, fakeResult, jsonHeaders, type ErrorBody } from '../../../helpers/app-fixture.js';

const fn = { language: 'python', code: 'def execute(input):\n    return input\n' };
const script = { language: 'javascript', code: 'console.log(1)' };

const fields = (body: ErrorBody) => (body.details ?? []).map((d) => d.field);

describe('POST /v1/execute-function', () => {
  it("answers in Riza's shape with kiln's additions", async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute-function', { ...fn, input: { n: 1 } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{24}$/);
    expect(await res.json()).toEqual({
      output: { echoed: { n: 1 } },
      output_status: 'valid',
      execution: {
        id: jobs[0]!.id,
        exit_code: 0,
        stdout: 'ran python function',
        stderr: '',
        duration: 12,
        stop_reason: 'exited',
        stdout_truncated: false,
        stderr_truncated: false,
      },
    });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.id).toMatch(/^exec_[0-9a-f]{24}$/);
    expect(jobs[0]).toMatchObject({ mode: 'function', code: fn.code, input: { n: 1 } });
    expect(jobs[0]).not.toHaveProperty('stdin'); // a function job carries no script fields
    expect(jobs[0]!.runtime).toMatchObject({ language: 'python', image: 'kiln-python:latest' });
  });

  it('says how long kiln itself took in a Server-Timing header', async () => {
    const { post } = await buildTestApp({ runJob: async (job) => (await new Promise((r) => setTimeout(r, 30)), fakeResult(job)) });
    const res = await post('/v1/execute-function', fn);
    const dur = Number(/^app;dur=([\d.]+)(?:,|$)/.exec(res.headers.get('server-timing') ?? '')?.[1]);
    expect(dur).toBeGreaterThanOrEqual(29); // it covers the run
  });

  it('echoes a client request id', async () => {
    const { post } = await buildTestApp();
    const res = await post('/v1/execute-function', fn, { ...jsonHeaders, 'X-Request-Id': 'client-id-1' });
    expect(res.headers.get('x-request-id')).toBe('client-id-1');
  });

  it('passes a null input when input is omitted', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute-function', fn);
    expect(res.status).toBe(200);
    expect((jobs[0] as FunctionJob).input).toBeNull();
    expect(((await res.json()) as { output: unknown }).output).toEqual({ echoed: null });
  });

  it('passes falsy inputs through unchanged', async () => {
    const { post, jobs } = await buildTestApp();
    for (const input of [0, false, '', [], null]) await post('/v1/execute-function', { ...fn, input });
    expect(jobs.map((j) => (j as FunctionJob).input)).toEqual([0, false, '', [], null]);
  });

  it('passes env and files through', async () => {
    const { post, jobs } = await buildTestApp();
    const env = { API_TOKEN: 'abc', _X1: '' };
    const files = [
      { path: 'data/in.txt', contents: 'hello' },
      { path: 'a/../b', contents: 'ok' },
    ];
    const res = await post('/v1/execute-function', { ...fn, env, files });
    expect(res.status).toBe(200);
    expect(jobs[0]!.env).toEqual(env);
    expect(jobs[0]!.files).toEqual(files);
  });

  it('maps TypeScript to the Node image', async () => {
    const { post, jobs } = await buildTestApp();
    await post('/v1/execute-function', { language: 'typescript', code: 'export function execute(i: unknown) { return i }' });
    expect(jobs[0]!.runtime).toMatchObject({ language: 'typescript', image: 'kiln-node:latest', warmEnv: ['KILN_WARM_TYPESCRIPT=1'] });
  });

  it("reports the user code's failure as a 200, not an error", async () => {
    const { post } = await buildTestApp({
      runJob: async (job): Promise<RunResult> => ({
        ...fakeResult(job),
        exitCode: 1,
        stdout: '',
        stderr: 'Traceback: ZeroDivisionError',
        outputJson: null,
        outputStatus: 'error',
      }),
    });
    const res = await post('/v1/execute-function', fn);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { output: unknown; output_status: string; execution: { exit_code: number; stderr: string } };
    expect(body.output).toBeNull();
    expect(body.output_status).toBe('error');
    expect(body.execution.exit_code).toBe(1);
    expect(body.execution.stderr).toContain('ZeroDivisionError');
  });
});

describe('POST /v1/execute', () => {
  it('answers with the flat execution shape', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, args: ['-v', 'x y'], stdin: 'line\n' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: jobs[0]!.id,
      exit_code: 0,
      stdout: 'ran javascript script',
      stderr: '',
      duration: 12,
      stop_reason: 'exited',
      stdout_truncated: false,
      stderr_truncated: false,
    });
    expect(jobs[0]).toMatchObject({ mode: 'script', code: script.code, args: ['-v', 'x y'], stdin: 'line\n' });
    expect(jobs[0]!.runtime.image).toBe('kiln-node:latest');
  });

  it('defaults args, stdin, env and files to empty', async () => {
    const { post, jobs } = await buildTestApp();
    await post('/v1/execute', { ...script, args: null, stdin: null, env: null, files: null });
    expect(jobs[0]).toMatchObject({ args: [], stdin: '', env: {}, files: [] });
  });

  it('passes truncation and stop reason through', async () => {
    const { post } = await buildTestApp({
      runJob: async (job) => ({ ...fakeResult(job), exitCode: 137, stopReason: 'output_limit', stdoutTruncated: true }),
    });
    const body = (await (await post('/v1/execute', script)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ exit_code: 137, stop_reason: 'output_limit', stdout_truncated: true, stderr_truncated: false });
  });
});

describe('limits', () => {
  it('uses the configured defaults when limits are omitted', async () => {
    const { post, jobs } = await buildTestApp({ env: { KILN_DEFAULT_TIMEOUT_SECONDS: '7', KILN_DEFAULT_MEMORY_MIB: '64' } });
    await post('/v1/execute', script);
    expect(jobs[0]).toMatchObject({ timeoutMs: 7000, memoryMiB: 64 });
  });

  it('uses requested limits up to the maxima, fractional seconds included', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, limits: { execution_timeout: 300, memory_size: 1024 } });
    expect(res.status).toBe(200);
    await post('/v1/execute', { ...script, limits: { execution_timeout: 0.5 } });
    expect(jobs.map((j) => [j.timeoutMs, j.memoryMiB])).toEqual([
      [300_000, 1024],
      [500, 128],
    ]);
  });

  it('rejects a timeout above the maximum with 400 naming the field and the maximum', async () => {
    const { post, jobs } = await buildTestApp({ env: { KILN_MAX_TIMEOUT_SECONDS: '60' } });
    const res = await post('/v1/execute-function', { ...fn, limits: { execution_timeout: 61 } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.code).toBe(3);
    expect(body.message).toContain('limits.execution_timeout');
    expect(body.message).toContain('60');
    expect(fields(body)).toEqual(['limits.execution_timeout']);
    expect(jobs).toHaveLength(0);
  });

  it('rejects memory above the maximum with 400 naming the field and the maximum', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, limits: { memory_size: 1025 } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.message).toContain('limits.memory_size');
    expect(body.message).toContain('1024');
    expect(fields(body)).toEqual(['limits.memory_size']);
    expect(jobs).toHaveLength(0);
  });

  it.each([
    [{ execution_timeout: 0 }, 'limits.execution_timeout'],
    [{ execution_timeout: -1 }, 'limits.execution_timeout'],
    [{ execution_timeout: '5' }, 'limits.execution_timeout'],
    [{ memory_size: 8 }, 'limits.memory_size'],
    [{ memory_size: 64.5 }, 'limits.memory_size'],
  ])('rejects limits %j naming %s', async (limits, field) => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, limits });
    expect(res.status).toBe(400);
    expect(fields((await res.json()) as ErrorBody)).toContain(field);
    expect(jobs).toHaveLength(0);
  });
});

describe('unsupported features', () => {
  it('passes http.allow with its credentials to the job', async () => {
    const { post, jobs } = await buildTestApp();
    const allow = [{ host: '*.example.com', auth: { bearer: { token: 't0k' } } }, { host: 'api.example.org' }];
    const res = await post('/v1/execute-function', { ...fn, http: { allow } });
    expect(res.status).toBe(200);
    expect(jobs[0]!.allow).toEqual(allow);
  });

  it.each([
    [{ host: 'exa mple.com' }, 'http.allow.0.host'],
    [{ host: '*example.com' }, 'http.allow.0.host'],
    [{ host: 'a.*.com' }, 'http.allow.0.host'],
    [{ host: 'x.com', auth: { bearer: { token: 'a\r\nX-Evil: 1' } } }, 'http.allow.0.auth.bearer.token'],
    [{ host: 'x.com', auth: { bearer: { token: 'caf\u00e9\u20ac' } } }, 'http.allow.0.auth.bearer.token'],
    [{ host: 'x.com', auth: { header: { name: 'X-Key', value: 'a\u0001b' } } }, 'http.allow.0.auth.header.value'],
    [{ host: 'x.com', auth: { header: { name: 'Bad Name', value: 'v' } } }, 'http.allow.0.auth.header.name'],
    [{ host: 'x.com', auth: { header: { name: 'Host', value: 'evil.com' } } }, 'http.allow.0.auth.header.name'],
    [{ host: 'x.com', auth: { header: { name: 'X-Key' } } }, 'http.allow.0.auth.header'],
    [{ host: 'x.com', auth: { basic: { user_id: 'a:b', password: 'p' } } }, 'http.allow.0.auth.basic.user_id'],
    [{ host: 'x.com', auth: { bearer: { token: 't' }, query: { key: 'k', value: 'v' } } }, 'http.allow.0.auth'],
  ])('rejects the http.allow rule %j naming %s', async (rule, field) => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute-function', { ...fn, http: { allow: [rule] } });
    expect(res.status).toBe(400);
    expect(fields((await res.json()) as ErrorBody)).toContain(field);
    expect(jobs).toHaveLength(0);
  });

  it('accepts an empty or null http.allow', async () => {
    const { post, jobs } = await buildTestApp();
    expect((await post('/v1/execute', { ...script, http: { allow: [] } })).status).toBe(200);
    expect((await post('/v1/execute', { ...script, http: { allow: null } })).status).toBe(200);
    expect((await post('/v1/execute', { ...script, http: null })).status).toBe(200);
    expect(jobs).toHaveLength(3);
  });

  it('rejects an unknown runtime_revision_id naming it', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, runtime_revision_id: 'rev_123' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.message).toContain('runtime_revision_id');
    expect(fields(body)).toEqual(['runtime_revision_id']);
    expect(jobs).toHaveLength(0);
  });
});

describe('request validation', () => {
  it.each(['../x', '/etc/x', 'a/../../x', '.', '..', './', 'a/..', './../x', 'a\0b', ''])(
    'rejects file path %j naming files.0.path',
    async (path) => {
      const { post, jobs } = await buildTestApp();
      const res = await post('/v1/execute-function', { ...fn, files: [{ path, contents: 'x' }] });
      expect(res.status).toBe(400);
      const body = (await res.json()) as ErrorBody;
      expect(body.code).toBe(3);
      expect(fields(body)).toContain('files.0.path');
      expect(body.message).toContain('files.0.path');
      expect(jobs).toHaveLength(0);
    },
  );

  it('names the index of the bad file', async () => {
    const { post } = await buildTestApp();
    const res = await post('/v1/execute', {
      ...script,
      files: [
        { path: 'ok', contents: '' },
        { path: '../../etc/passwd', contents: '' },
      ],
    });
    expect(res.status).toBe(400);
    expect(fields((await res.json()) as ErrorBody)).toContain('files.1.path');
  });

  it.each(['a/../b', 'a/b/c.txt', './x', 'dir/.hidden'])('accepts file path %j', async (path) => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute-function', { ...fn, files: [{ path, contents: 'x' }] });
    expect(res.status).toBe(200);
    expect(jobs[0]!.files[0]!.path).toBe(path);
  });

  it.each(['1ABC', 'A-B', 'A B', '', 'A=B'])('rejects env name %j', async (name) => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, env: { [name]: 'v' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.message).toContain('env');
    expect(jobs).toHaveLength(0);
  });

  it('rejects a NUL in an env value naming the variable', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, env: { GOOD: 'a\0b' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(fields(body)).toContain('env.GOOD');
    expect(jobs).toHaveLength(0);
  });

  it('rejects a non-string env value', async () => {
    const { post } = await buildTestApp();
    expect((await post('/v1/execute', { ...script, env: { N: 1 } })).status).toBe(400);
  });

  it('rejects an unknown language naming it', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, language: 'ruby' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(fields(body)).toEqual(['language']);
    expect(jobs).toHaveLength(0);
  });

  it('rejects missing or empty code naming it', async () => {
    const { post } = await buildTestApp();
    for (const body of [{ language: 'python' }, { language: 'python', code: '' }]) {
      const res = await post('/v1/execute', body);
      expect(res.status).toBe(400);
      expect(fields((await res.json()) as ErrorBody)).toContain('code');
    }
  });

  it('rejects non-string args', async () => {
    const { post } = await buildTestApp();
    const res = await post('/v1/execute', { ...script, args: ['ok', 2] });
    expect(res.status).toBe(400);
    expect(fields((await res.json()) as ErrorBody)).toContain('args.1');
  });

  it.each(['{"language":"python",', 'not json', ''])('answers malformed JSON %j with 400, not 500', async (raw) => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', raw);
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).code).toBe(3);
    expect(jobs).toHaveLength(0);
  });

  it('answers a JSON body that is not an object with 400', async () => {
    const { post } = await buildTestApp();
    for (const raw of ['[]', '"x"', 'null', '42']) expect((await post('/v1/execute', raw)).status).toBe(400);
  });

  it.each([
    ['no Content-Type', auth],
    ['text/plain', { ...auth, 'Content-Type': 'text/plain' }],
    ['form', { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' }],
  ])('rejects a body with %s with 400', async (_name, headers) => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute', script, headers);
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.code).toBe(3);
    expect(body.message).toMatch(/Content-Type/);
    expect(jobs).toHaveLength(0);
  });

  it('accepts application/json with a charset', async () => {
    const { post } = await buildTestApp();
    const res = await post('/v1/execute', script, { ...auth, 'Content-Type': 'application/json; charset=utf-8' });
    expect(res.status).toBe(200);
  });

  it('answers a body over KILN_MAX_BODY_BYTES with 413', async () => {
    const { post, jobs } = await buildTestApp({ env: { KILN_MAX_BODY_BYTES: '1000' } });
    const res = await post('/v1/execute', { ...script, code: 'x'.repeat(2000) });
    expect(res.status).toBe(413);
    const body = (await res.json()) as ErrorBody;
    expect(body.code).toBe(3);
    expect(body.message).toContain('1000');
    expect(jobs).toHaveLength(0);
  });

  it('answers a streamed body over the limit (no Content-Length) with 413', async () => {
    const { app, jobs } = await buildTestApp({ env: { KILN_MAX_BODY_BYTES: '1000' } });
    const payload = new TextEncoder().encode(JSON.stringify({ ...script, code: 'y'.repeat(5000) }));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < payload.length; i += 512) controller.enqueue(payload.subarray(i, i + 512));
        controller.close();
      },
    });
    const res = await app.request('/v1/execute', { method: 'POST', headers: jsonHeaders, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(jobs).toHaveLength(0);
  });

  it('accepts a body just under the limit', async () => {
    const { post } = await buildTestApp({ env: { KILN_MAX_BODY_BYTES: '1000' } });
    const res = await post('/v1/execute', { ...script, code: 'x'.repeat(900) });
    expect(res.status).toBe(200);
  });
});

describe('admission', () => {
  it('answers 429 with Retry-After and code 8 when every slot is busy and the queue is full', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { post, jobs, metrics } = await buildTestApp({
      env: { KILN_CONCURRENCY: '1', KILN_QUEUE_LIMIT: '0' },
      runJob: async (job) => {
        started();
        await gate;
        return fakeResult(job);
      },
    });
    const first = post('/v1/execute', script);
    await running;

    const res = await post('/v1/execute', script);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const body = (await res.json()) as ErrorBody;
    expect(body.code).toBe(8);
    expect(body.details?.[0]?.reason).toBe('queue_full');
    expect(jobs).toHaveLength(1);
    expect(await metrics.registry.metrics()).toMatch(/kiln_rejections_total\{reason="queue_full"\} 1/);

    release();
    expect((await first).status).toBe(200);
    // the slot is free again
    expect((await post('/v1/execute', script)).status).toBe(200);
  });

  it('queues rather than rejects while the wait list has room', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { post, jobs, admission } = await buildTestApp({
      env: { KILN_CONCURRENCY: '1', KILN_QUEUE_LIMIT: '1' },
      runJob: async (job) => {
        await gate;
        return fakeResult(job);
      },
    });
    const a = post('/v1/execute', script);
    const b = post('/v1/execute', script);
    await vi.waitFor(() => {
      expect(admission.running).toBe(1);
      expect(admission.waiting).toBe(1);
    });
    const c = await post('/v1/execute', script);
    expect(c.status).toBe(429);
    release();
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
    expect(jobs).toHaveLength(2);
  });

  it('turns a failing runner into a 500 without leaking its message', async () => {
    const { post } = await buildTestApp({
      runJob: async () => {
        throw new Error('dockerode: socket hang up at /var/run/docker.sock');
      },
    });
    const res = await post('/v1/execute', script);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('docker.sock');
    expect(JSON.parse(text)).toEqual({ code: 13, message: 'internal error' });
  });
});

describe('health, metrics and docs', () => {
  it('GET /healthz is 200', async () => {
    const { app } = await buildTestApp();
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz is 503 with a reason when Docker is unreachable', async () => {
    const { app } = await buildTestApp({
      docker: {
        ping: async () => {
          throw new Error('connect ENOENT /var/run/docker.sock');
        },
      },
    });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; reason: string };
    expect(body.status).toBe('unavailable');
    expect(body.reason).toMatch(/Docker/);
    expect(body.reason).not.toContain('docker.sock');
  });

  it('GET /readyz is 503 naming a missing image, and asks about every required image', async () => {
    const asked: string[][] = [];
    const { app } = await buildTestApp({
      docker: {
        missingImages: async (images) => {
          asked.push(images);
          return ['kiln-node:latest'];
        },
      },
    });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { reason: string }).reason).toContain('kiln-node:latest');
    expect(asked).toHaveLength(1);
    expect([...asked[0]!].sort()).toEqual(['kiln-node:latest', 'kiln-python:latest']);
  });

  it('GET /readyz is 503 when the image check itself fails', async () => {
    const { app } = await buildTestApp({
      docker: {
        missingImages: async () => {
          throw new Error('boom');
        },
      },
    });
    expect((await app.request('/readyz')).status).toBe(503);
  });

  it('GET /readyz is 503 naming the OCI runtime when the engine does not have it registered', async () => {
    const { app } = await buildTestApp({
      env: { KILN_OCI_RUNTIME: 'runsc' },
      docker: { runtimes: async () => ({ runc: [], 'io.containerd.runc.v2': [] }) },
    });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { reason: string }).reason).toMatch(
      /OCI runtime runsc is not registered.*registered: runc, io\.containerd\.runc\.v2.*--gvisor/,
    );
    const ok = await buildTestApp({
      env: { KILN_OCI_RUNTIME: 'runsc' },
      docker: { runtimes: async () => ({ runc: [], runsc: ['--network=none', '--oci-seccomp'] }) },
    });
    expect((await ok.app.request('/readyz')).status).toBe(200);
  });

  it('GET /readyz is 503 under runsc registered without --oci-seccomp (the seccomp profile would not reach the code)', async () => {
    const { app } = await buildTestApp({
      env: { KILN_OCI_RUNTIME: 'runsc' },
      docker: { runtimes: async () => ({ runc: [], runsc: ['--network=none'] }) },
    });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { reason: string }).reason).toMatch(/without --oci-seccomp.*--gvisor/);
  });

  it('GET /readyz is 503 "warming" until the warm pools have first been filled, then 200', async () => {
    let warming: string | null = 'python 1/2, node 0/2';
    const { app } = await buildTestApp({ warming: () => warming });
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'warming', reason: 'filling the warm pools (python 1/2, node 0/2 ready)' });
    warming = null;
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('GET /readyz is 200 when Docker answers and the images are present', async () => {
    const { app } = await buildTestApp();
    const res = await app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('GET /metrics counts executions by language and outcome', async () => {
    const { app, post } = await buildTestApp();
    const before = await (await app.request('/metrics')).text();
    expect(before).not.toMatch(/kiln_executions_total\{language="python",outcome="valid"\}/);
    await post('/v1/execute-function', fn);
    await post('/v1/execute-function', fn);
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/kiln_executions_total\{language="python",outcome="valid"\} 2/);
    expect(text).toMatch(/kiln_execution_duration_seconds_count\{language="python"\} 2/);
  });

  it('GET /metrics labels a failed script as error and a timeout as timeout', async () => {
    const { app, post } = await buildTestApp({
      runJob: async (job) =>
        job.code === 'slow' ? { ...fakeResult(job), exitCode: 137, stopReason: 'timeout' } : { ...fakeResult(job), exitCode: 2 },
    });
    await post('/v1/execute', { ...script, code: 'fails' });
    await post('/v1/execute', { ...script, code: 'slow' });
    const text = await (await app.request('/metrics')).text();
    expect(text).toMatch(/kiln_executions_total\{language="javascript",outcome="error"\} 1/);
    expect(text).toMatch(/kiln_executions_total\{language="javascript",outcome="timeout"\} 1/);
  });

  it('GET /openapi.json is an OpenAPI 3.1 document with both execute paths', async () => {
    const { app } = await buildTestApp();
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = JSON.parse(await res.text()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/execute', '/v1/execute-function']));
    expect(doc.paths['/v1/execute']).toHaveProperty('post');
    expect(doc.paths['/v1/execute-function']).toHaveProperty('post');
  });

  it('serves no docs when KILN_DOCS is false', async () => {
    const { app } = await buildTestApp({ env: { KILN_DOCS: 'false' } });
    expect((await app.request('/openapi.json')).status).toBe(404);
    expect((await app.request('/docs')).status).toBe(404);
  });

  it('answers an unknown route with 404 in the error shape', async () => {
    const { app } = await buildTestApp();
    const res = await app.request('/nope');
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).code).toBe(5);
  });
});
