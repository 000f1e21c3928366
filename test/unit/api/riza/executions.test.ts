import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { buildTestApp, fakeResult, type ErrorBody } from '../../../helpers/app-fixture.js';

interface Logged {
  id: string;
  language: string;
  exit_code: number;
  duration: number;
  started_at: string;
  details: { type: string; tool_id?: string; request: Record<string, unknown>; response: Record<string, unknown> };
}

type App = Awaited<ReturnType<typeof buildTestApp>>;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const script = { language: 'javascript', code: 'console.log(1)' };
const fn = { language: 'python', code: 'def execute(input):\n    return input\n' };
const fields = (body: ErrorBody) => (body.details ?? []).map((d) => d.field);

async function list(app: App, query = ''): Promise<Logged[]> {
  const res = await app.request('GET', `/v1/executions${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Logged[] }).data;
}

/** A runner whose code "fail" exits 1 and whose every other code exits 0. */
const failOnFail = {
  runJob: async (job: Parameters<typeof fakeResult>[0]) => ({ ...fakeResult(job), exitCode: job.code === 'fail' ? 1 : 0 }),
};

describe('GET /v1/executions', () => {
  it("records every script, function and tool execution, newest first, under the answer's id", async () => {
    const app = await buildTestApp();
    const before = Date.now();
    const s = (await (await app.request('POST', '/v1/execute', script)).json()) as { id: string };
    const f = (await (await app.request('POST', '/v1/execute-function', { ...fn, input: { a: 1 } })).json()) as {
      execution: { id: string };
    };
    const tool = (await (await app.request('POST', '/v1/tools', { name: 't', ...fn })).json()) as { id: string; revision_id: string };
    const t = (await (await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: 7 })).json()) as { execution: { id: string } };
    const after = Date.now();

    const data = await list(app);
    expect(data.map((e) => e.id)).toEqual([t.execution.id, f.execution.id, s.id]);
    expect(data.map((e) => e.id)).toEqual(app.jobs.map((j) => j.id).reverse());
    expect(data.map((e) => [e.details.type, e.language, e.exit_code, e.duration])).toEqual([
      ['tool', 'python', 0, 12],
      ['function', 'python', 0, 12],
      ['script', 'javascript', 0, 12],
    ]);
    for (const e of data) {
      expect(e.started_at).toMatch(RFC3339);
      expect(Date.parse(e.started_at)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(e.started_at)).toBeLessThanOrEqual(after);
    }
    expect(data[0]!.details.tool_id).toBe(tool.id);
    expect(data[0]!.details.request).toEqual({ input: 7, env: [], revision_id: tool.revision_id });
    expect(data[1]!.details).not.toHaveProperty('tool_id');
    expect(data[1]!.details.response).toEqual({
      output: { echoed: { a: 1 } },
      output_status: 'valid',
      execution: {
        id: f.execution.id,
        exit_code: 0,
        stdout: 'ran python function',
        stderr: '',
        duration: 12,
        stop_reason: 'exited',
        stdout_truncated: false,
        stderr_truncated: false,
      },
    });
    expect(data[2]!.details.response).toMatchObject({ id: s.id, exit_code: 0, stdout: 'ran javascript script' });

    const one = await app.request('GET', `/v1/executions/${f.execution.id}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual(data[1]);
  });

  it('keeps env names but never values, http rules without credentials, files by path and size', async () => {
    const app = await buildTestApp();
    const res = await app.request('POST', '/v1/execute', {
      ...script,
      args: ['-v'],
      env: { API_TOKEN: 'tok-env-value-123' },
      files: [{ path: 'data/in.txt', contents: 'h\u00e9llo' }],
      http: {
        allow: [
          { host: 'api.example.com', auth: { bearer: { token: 'tok-bearer-456' } } },
          { host: 'x.example.com', auth: { header: { name: 'X-Key', value: 'tok-header-789' } } },
        ],
      },
    });
    expect(res.status).toBe(200);
    const raw = await (await app.request('GET', '/v1/executions')).text();
    for (const secret of ['tok-env-value-123', 'tok-bearer-456', 'tok-header-789', 'h\u00e9llo']) expect(raw).not.toContain(secret);
    const [logged] = (JSON.parse(raw) as { data: Logged[] }).data;
    expect(logged!.details.request).toEqual({
      language: 'javascript',
      code: script.code,
      args: ['-v'],
      stdin: '',
      env: { API_TOKEN: '[redacted]' },
      files: [{ path: 'data/in.txt', bytes: 6 }],
      http: {
        allow: [
          { host: 'api.example.com', auth: { bearer: {} } },
          { host: 'x.example.com', auth: { header: { name: 'X-Key' } } },
        ],
      },
      limits: {},
    });
  });

  it("keeps a tool execution's caller bindings without values, and keeps it after the tool is deleted", async () => {
    const app = await buildTestApp();
    const tool = (await (await app.request('POST', '/v1/tools', { name: 't', ...fn })).json()) as { id: string; revision_id: string };
    const body = {
      input: null,
      env: [{ name: 'MINE', value: 'caller-literal-111' }],
      http: { allow: [{ host: 'api.example.com', auth: { query: { key: 'k', value: 'caller-cred-222' } } }] },
    };
    const run = (await (await app.request('POST', `/v1/tools/${tool.id}/execute`, body)).json()) as { execution: { id: string } };
    expect((await app.request('DELETE', `/v1/tools/${tool.id}`)).status).toBe(200);
    const res = await app.request('GET', `/v1/executions/${run.execution.id}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain('caller-literal-111');
    expect(text).not.toContain('caller-cred-222');
    expect((JSON.parse(text) as Logged).details).toMatchObject({
      type: 'tool',
      tool_id: tool.id,
      request: {
        input: null,
        env: [{ name: 'MINE' }],
        http: { allow: [{ host: 'api.example.com', auth: { query: { key: 'k' } } }] },
        revision_id: tool.revision_id,
      },
    });
  });

  it('only_non_zero_exit_codes=true lists only the failures', async () => {
    const app = await buildTestApp(failOnFail);
    const ids: string[] = [];
    for (const code of ['ok', 'fail', 'ok', 'fail'])
      ids.push(((await (await app.request('POST', '/v1/execute', { ...script, code })).json()) as { id: string }).id);
    expect((await list(app, '?only_non_zero_exit_codes=true')).map((e) => [e.id, e.exit_code])).toEqual([
      [ids[3], 1],
      [ids[1], 1],
    ]);
    expect((await list(app, '?only_non_zero_exit_codes=1&limit=1')).map((e) => e.id)).toEqual([ids[3]]);
    expect((await list(app, `?only_non_zero_exit_codes=true&starting_after=${ids[3]}`)).map((e) => e.id)).toEqual([ids[1]]);
    expect(await list(app, '?only_non_zero_exit_codes=false')).toHaveLength(4);
  });

  it('pages 100 by default, at most 100, with starting_after down to an empty page', async () => {
    const app = await buildTestApp();
    for (let i = 0; i < 101; i++) expect((await app.request('POST', '/v1/execute', script)).status).toBe(200);
    const first = await list(app);
    expect(first).toHaveLength(100);
    expect(await list(app, '?limit=100')).toEqual(first);
    const rest = await list(app, `?starting_after=${first[99]!.id}`);
    expect(rest.map((e) => e.id)).toEqual([app.jobs[0]!.id]);
    expect(await list(app, `?starting_after=${rest[0]!.id}`)).toEqual([]);
    const ids = [...first, ...rest].map((e) => e.id);
    expect(ids).toEqual([...ids].sort().reverse());
  });

  it.each([
    ['only_non_zero_exit_codes=yes', 'only_non_zero_exit_codes'],
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=x', 'limit'],
    ['starting_after=tool_000000000000000000000000', 'starting_after'],
  ])('rejects ?%s with 400 naming %s', async (query, field) => {
    const app = await buildTestApp();
    const res = await app.request('GET', `/v1/executions?${query}`);
    expect(res.status).toBe(400);
    expect(fields((await res.json()) as ErrorBody)).toEqual([field]);
  });

  it('answers an unknown execution with 404', async () => {
    const app = await buildTestApp();
    for (const id of ['exec_000000000000000000000000', 'nope']) {
      const res = await app.request('GET', `/v1/executions/${id}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ code: 5, message: `execution ${id} not found`, details: [{ field: 'id', reason: 'not_found' }] });
    }
  });
});

describe('a store that cannot record', () => {
  it('still answers the execution, and counts the failure', async () => {
    const app = await buildTestApp();
    const other = new BetterSqlite3(app.dbFile);
    other.exec('DROP TABLE executions');
    other.close();

    const res = await app.request('POST', '/v1/execute-function', { ...fn, input: { n: 1 } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      output: { echoed: { n: 1 } },
      output_status: 'valid',
      execution: { id: app.jobs[0]!.id, exit_code: 0 },
    });
    expect(await app.metrics.registry.metrics()).toMatch(/kiln_store_errors_total\{operation="record_execution"\} 1\n/);
    const again = await app.request('POST', '/v1/execute', { language: 'python', code: 'print(1)' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(app.jobs[1]!.id);
    expect(await app.metrics.registry.metrics()).toMatch(/kiln_store_errors_total\{operation="record_execution"\} 2/);
  });

  it('counts nothing while the store records', async () => {
    const app = await buildTestApp();
    await app.request('POST', '/v1/execute', script);
    expect(await app.metrics.registry.metrics()).not.toMatch(/kiln_store_errors_total\{operation="record_execution"\}/);
  });
});

describe('pages of large executions', () => {
  it('ends a page early once it holds 8 MiB; paging on from its last id gives every execution once', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const app = await buildTestApp({ runJob: async (job) => ({ ...fakeResult(job), stdout: big }) });
    for (let i = 0; i < 5; i++) expect((await app.request('POST', '/v1/execute', script)).status).toBe(200);
    const seen: string[] = [];
    let cursor = '';
    for (let page = 0; page < 10; page++) {
      const rows = await list(app, `?limit=100${cursor ? `&starting_after=${cursor}` : ''}`);
      if (!rows.length) break;
      expect(rows.length).toBeLessThanOrEqual(3); // 3 MiB each: the 8 MiB budget is passed at the third
      seen.push(...rows.map((r) => r.id));
      cursor = rows.at(-1)!.id;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });
});
