import { describe, expect, it } from 'vitest';
import { API_KEY, buildTestApp, OTHER_KEY, PROJECT_B_KEY, type ErrorBody } from '../../helpers/app-fixture.js';

const VALUE = 'project-a-secret-value-42';
const fn = { name: 'a-tool', language: 'python', code: 'def execute(input):\n    return input\n' };
const UNKNOWN = { tool: 'tool_000000000000000000000000', secret: 'secret_000000000000000000000000', exec: 'exec_000000000000000000000000' };

type App = Awaited<ReturnType<typeof buildTestApp>>;

async function ok<T>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  expect(r.status).toBe(200);
  return (await r.json()) as T;
}

/** Project A's tool (bound to A's secret), the secret, and one execution of the tool. */
async function projectA(app: App) {
  const secret = await ok<{ id: string; name: string }>(app.request('POST', '/v1/secrets', { name: 'A_SECRET', value: VALUE }));
  const tool = await ok<{ id: string; revision_id: string }>(
    app.request('POST', '/v1/tools', { ...fn, env: [{ name: 'TOKEN', secret_id: secret.id }] }),
  );
  const run = await ok<{ execution: { id: string } }>(app.request('POST', `/v1/tools/${tool.id}/execute`, { input: 1 }));
  const snapshot = async () => ({
    tool: await ok<unknown>(app.request('GET', `/v1/tools/${tool.id}`)),
    revisions: await ok<unknown>(app.request('GET', `/v1/tools/${tool.id}/revisions`)),
    secrets: await ok<unknown>(app.request('GET', '/v1/secrets')),
    execution: await ok<unknown>(app.request('GET', `/v1/executions/${run.execution.id}`)),
  });
  return { secret, tool, execution: run.execution, snapshot };
}

/** The answer with `id` written as <id>: how a 404 for one id compares with a 404 for another. */
async function notFound(res: Response, id: string): Promise<string> {
  expect(res.status).toBe(404);
  return (await res.text()).replaceAll(id, '<id>');
}

describe("another project's objects are missing ones", () => {
  it("B gets exactly the 404 of a missing id for everything it tries on A's objects", async () => {
    const app = await buildTestApp();
    const a = await projectA(app);
    const attempts: [string, (id: string) => string, unknown, keyof typeof UNKNOWN, string][] = [
      ['GET', (id) => `/v1/tools/${id}`, undefined, 'tool', a.tool.id],
      ['POST', (id) => `/v1/tools/${id}`, { code: 'def execute(input):\n    return "pwned"\n' }, 'tool', a.tool.id],
      ['POST', (id) => `/v1/tools/${id}/execute`, { input: 1 }, 'tool', a.tool.id],
      ['POST', (id) => `/v1/tools/${id}/execute`, { input: 1, revision_id: a.tool.revision_id }, 'tool', a.tool.id],
      ['GET', (id) => `/v1/tools/${id}/revisions`, undefined, 'tool', a.tool.id],
      ['DELETE', (id) => `/v1/tools/${id}`, undefined, 'tool', a.tool.id],
      ['POST', (id) => `/v1/secrets/${id}`, { value: 'overwritten-by-b' }, 'secret', a.secret.id],
      ['DELETE', (id) => `/v1/secrets/${id}`, undefined, 'secret', a.secret.id],
      ['GET', (id) => `/v1/executions/${id}`, undefined, 'exec', a.execution.id],
    ];
    for (const [method, path, body, kind, id] of attempts) {
      const asB = await notFound(await app.request(method, path(id), body, PROJECT_B_KEY), id);
      const missing = await notFound(await app.request(method, path(UNKNOWN[kind]), body, PROJECT_B_KEY), UNKNOWN[kind]);
      expect(asB, `${method} ${path(id)}`).toBe(missing);
      expect((JSON.parse(asB) as ErrorBody).code).toBe(5);
    }
    expect(app.jobs).toHaveLength(1); // A's own run, nothing of B's
  });

  it("A's objects are unchanged after B's attempts", async () => {
    const app = await buildTestApp();
    const a = await projectA(app);
    const before = await a.snapshot();
    await app.request('POST', `/v1/tools/${a.tool.id}`, { name: 'renamed by b' }, PROJECT_B_KEY);
    await app.request('DELETE', `/v1/tools/${a.tool.id}`, undefined, PROJECT_B_KEY);
    await app.request('POST', `/v1/secrets/${a.secret.id}`, { value: 'overwritten-by-b' }, PROJECT_B_KEY);
    await app.request('DELETE', `/v1/secrets/${a.secret.id}`, undefined, PROJECT_B_KEY);
    expect(await a.snapshot()).toEqual(before);
    await ok(app.request('POST', `/v1/tools/${a.tool.id}/execute`, { input: 2 }));
    expect(app.jobs.map((j) => j.env.TOKEN)).toEqual([VALUE, VALUE]);
  });

  it("B's lists never include A's objects, only B's own", async () => {
    const app = await buildTestApp();
    await projectA(app);
    expect(await ok(app.request('GET', '/v1/tools', undefined, PROJECT_B_KEY))).toEqual({ tools: [] });
    expect(await ok(app.request('GET', '/v1/secrets', undefined, PROJECT_B_KEY))).toEqual({ secrets: [] });
    expect(await ok(app.request('GET', '/v1/executions', undefined, PROJECT_B_KEY))).toEqual({ data: [] });

    const bTool = await ok<{ id: string }>(app.request('POST', '/v1/tools', { ...fn, name: 'b-tool' }, PROJECT_B_KEY));
    const bSecret = await ok<{ id: string }>(app.request('POST', '/v1/secrets', { name: 'B', value: 'b-value-1234' }, PROJECT_B_KEY));
    const bRun = await ok<{ execution: { id: string } }>(app.request('POST', `/v1/tools/${bTool.id}/execute`, {}, PROJECT_B_KEY));
    const ids = async (path: string, key: string) =>
      Object.values(await ok<Record<string, { id: string }[]>>(app.request('GET', path, undefined, key)))[0]!.map((o) => o.id);
    expect(await ids('/v1/tools', PROJECT_B_KEY)).toEqual([bTool.id]);
    expect(await ids('/v1/secrets', PROJECT_B_KEY)).toEqual([bSecret.id]);
    expect(await ids('/v1/executions', PROJECT_B_KEY)).toEqual([bRun.execution.id]);
    expect(await ids('/v1/tools', API_KEY)).not.toContain(bTool.id);
    expect(await ids('/v1/executions', API_KEY)).not.toContain(bRun.execution.id);
  });

  it("B cannot bind A's secret, in a tool or at execution time", async () => {
    const app = await buildTestApp();
    const a = await projectA(app);
    const fieldsOf = async (res: Response) => {
      expect(res.status).toBe(400);
      return ((await res.json()) as ErrorBody).details?.map((d) => d.field);
    };
    const bound = { ...fn, env: [{ name: 'STOLEN', secret_id: a.secret.id }] };
    expect(await fieldsOf(await app.request('POST', '/v1/tools', bound, PROJECT_B_KEY))).toEqual(['env.0.secret_id']);
    const auth = { http: { allow: [{ host: 'api.example.com', auth: { bearer: { secret_id: a.secret.id } } }] } };
    expect(await fieldsOf(await app.request('POST', '/v1/tools', { ...fn, ...auth }, PROJECT_B_KEY))).toEqual([
      'http.allow.0.auth.bearer.secret_id',
    ]);

    const bTool = await ok<{ id: string }>(app.request('POST', '/v1/tools', fn, PROJECT_B_KEY));
    const run = await app.request(
      'POST',
      `/v1/tools/${bTool.id}/execute`,
      { env: [{ name: 'STOLEN', secret_id: a.secret.id }] },
      PROJECT_B_KEY,
    );
    expect(await fieldsOf(run)).toEqual(['env.0.secret_id']);
    const upd = await app.request('POST', `/v1/tools/${bTool.id}`, bound, PROJECT_B_KEY);
    expect(await fieldsOf(upd)).toEqual(['env.0.secret_id']);
    expect(app.jobs.map((j) => j.env)).toEqual([{ TOKEN: VALUE }]); // only A's own run
    const bTools = await ok<{ tools: { id: string; env: unknown[] }[] }>(app.request('GET', '/v1/tools', undefined, PROJECT_B_KEY));
    expect(bTools.tools.map((t) => [t.id, t.env])).toEqual([[bTool.id, []]]);
  });
});

describe('keys of one project', () => {
  it('OTHER_KEY sees, runs and changes what API_KEY made', async () => {
    const app = await buildTestApp();
    const a = await projectA(app);
    const asOther = (method: string, path: string, body?: unknown) => app.request(method, path, body, OTHER_KEY);
    expect(await ok(asOther('GET', `/v1/tools/${a.tool.id}`))).toMatchObject({ id: a.tool.id, revision_id: a.tool.revision_id });
    expect(await ok(asOther('GET', '/v1/tools'))).toMatchObject({ tools: [{ id: a.tool.id }] });
    expect(await ok(asOther('GET', '/v1/secrets'))).toEqual({ secrets: [a.secret] });
    expect(await ok(asOther('GET', `/v1/executions/${a.execution.id}`))).toMatchObject({
      id: a.execution.id,
      details: { type: 'tool', tool_id: a.tool.id },
    });

    const run = await ok<{ execution: { id: string } }>(asOther('POST', `/v1/tools/${a.tool.id}/execute`, { input: 3 }));
    expect(app.jobs[1]!.env).toEqual({ TOKEN: VALUE });
    const listed = await ok<{ data: { id: string }[] }>(app.request('GET', '/v1/executions'));
    expect(listed.data.map((e) => e.id)).toEqual([run.execution.id, a.execution.id]);

    await ok(asOther('POST', `/v1/secrets/${a.secret.id}`, { value: 'rotated-by-other-key' }));
    await ok(app.request('POST', `/v1/tools/${a.tool.id}/execute`, { input: 4 }));
    expect(app.jobs[2]!.env).toEqual({ TOKEN: 'rotated-by-other-key' });
    expect(await ok(asOther('DELETE', `/v1/tools/${a.tool.id}`))).toEqual({ id: a.tool.id, deleted: true });
    expect((await app.request('GET', `/v1/tools/${a.tool.id}`)).status).toBe(404);
  });
});
