import { describe, expect, it } from 'vitest';
import type { FunctionJob } from '../../../../src/sandbox/job.js';
import { buildTestApp, PROJECT_B_KEY, type ErrorBody } from '../../../helpers/app-fixture.js';

interface ToolBody {
  id: string;
  revision_id: string;
  name: string;
  description: string;
  language: string;
  code: string;
  input_schema: unknown;
  env: unknown[];
  http: unknown;
  created_at: string;
}

const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 1 } }, required: ['n'] };
const adder = {
  name: 'adder',
  description: 'adds one',
  language: 'python',
  code: 'def execute(input):\n    return input\n',
  input_schema: schema,
};
const MISSING_TOOL = 'tool_000000000000000000000000';
const MISSING_SECRET = 'secret_000000000000000000000000';

const fields = (body: ErrorBody) => (body.details ?? []).map((d) => d.field);
type App = Awaited<ReturnType<typeof buildTestApp>>;

async function createTool(app: App, def: Record<string, unknown> = adder): Promise<ToolBody> {
  const res = await app.request('POST', '/v1/tools', def);
  expect(res.status).toBe(200);
  return (await res.json()) as ToolBody;
}

/** Sends the request and expects a 4xx whose details name `field`; answers the error body. */
async function rejects(app: App, method: string, path: string, body: unknown, field: string, status = 400): Promise<ErrorBody> {
  const res = await app.request(method, path, body);
  expect(res.status).toBe(status);
  const err = (await res.json()) as ErrorBody;
  expect(fields(err)).toContain(field);
  expect(err.message).toContain(field === 'id' ? 'not found' : field.split('.')[0]!);
  return err;
}

describe("tool CRUD in Riza's shapes", () => {
  it('POST /v1/tools answers the tool at its first revision', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    expect(tool).toEqual({
      id: expect.stringMatching(/^tool_[0-9a-f]{24}$/),
      revision_id: expect.stringMatching(/^rev_[0-9a-f]{24}$/),
      name: 'adder',
      description: 'adds one',
      language: 'python',
      code: adder.code,
      input_schema: schema,
      env: [],
      http: null,
      created_at: expect.any(String),
    });
    expect(new Date(tool.created_at).toISOString()).toBe(tool.created_at);
    const got = await app.request('GET', `/v1/tools/${tool.id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(tool);
  });

  it('lists tools newest first and pages with limit and starting_after down to an empty page', async () => {
    const app = await buildTestApp();
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) ids.push((await createTool(app, { ...adder, name })).id);
    const page = async (q: string) =>
      ((await (await app.request('GET', `/v1/tools${q}`)).json()) as { tools: ToolBody[] }).tools.map((t) => t.id);
    expect(await page('')).toEqual([ids[2], ids[1], ids[0]]);
    expect(await page('?limit=2')).toEqual([ids[2], ids[1]]);
    expect(await page(`?limit=2&starting_after=${ids[1]}`)).toEqual([ids[0]]);
    expect(await page(`?limit=2&starting_after=${ids[0]}`)).toEqual([]);
  });

  it('an update makes a new revision and keeps the fields it does not name', async () => {
    const app = await buildTestApp();
    const first = await createTool(app);
    const res = await app.request('POST', `/v1/tools/${first.id}`, { code: 'def execute(input):\n    return 2\n' });
    expect(res.status).toBe(200);
    const second = (await res.json()) as ToolBody;
    expect(second.revision_id).not.toBe(first.revision_id);
    expect(second).toMatchObject({
      id: first.id,
      name: 'adder',
      description: 'adds one',
      input_schema: schema,
      code: 'def execute(input):\n    return 2\n',
    });
    expect(second.created_at).toBe(first.created_at);
    expect(await (await app.request('GET', `/v1/tools/${first.id}`)).json()).toEqual(second);

    const revs = (await (await app.request('GET', `/v1/tools/${first.id}/revisions`)).json()) as {
      revisions: { id: string; tool_id: string; code: string }[];
    };
    expect(revs.revisions.map((r) => [r.id, r.tool_id, r.code])).toEqual([
      [second.revision_id, first.id, second.code],
      [first.revision_id, first.id, adder.code],
    ]);
  });

  it('DELETE answers {id, deleted} and the tool is then 404 everywhere', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    const res = await app.request('DELETE', `/v1/tools/${tool.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: tool.id, deleted: true });
    for (const [method, path, body] of [
      ['GET', `/v1/tools/${tool.id}`, undefined],
      ['DELETE', `/v1/tools/${tool.id}`, undefined],
      ['GET', `/v1/tools/${tool.id}/revisions`, undefined],
      ['POST', `/v1/tools/${tool.id}/execute`, { input: { n: 1 } }],
      ['POST', `/v1/tools/${tool.id}`, { name: 'x' }],
    ] as const)
      expect((await rejects(app, method, path, body, 'id', 404)).code).toBe(5);
    expect(((await (await app.request('GET', '/v1/tools')).json()) as { tools: unknown[] }).tools).toEqual([]);
    expect(app.jobs).toHaveLength(0);
  });
});

describe('POST /v1/tools/{id}/execute', () => {
  it("answers {output, output_status, execution} with the job's id and passes the input", async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    const res = await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: { n: 3 } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { output: unknown; output_status: string; execution: { id: string; exit_code: number } };
    expect(body).toMatchObject({ output: { echoed: { n: 3 } }, output_status: 'valid', execution: { id: app.jobs[0]!.id, exit_code: 0 } });
    expect(app.jobs[0]).toMatchObject({ mode: 'function', code: adder.code, input: { n: 3 } });
  });

  it('runs the old code of a pinned revision, and the latest without one', async () => {
    const app = await buildTestApp();
    const first = await createTool(app);
    await app.request('POST', `/v1/tools/${first.id}`, { code: 'def execute(input):\n    return "new"\n' });
    expect((await app.request('POST', `/v1/tools/${first.id}/execute`, { input: { n: 1 }, revision_id: first.revision_id })).status).toBe(
      200,
    );
    expect((await app.request('POST', `/v1/tools/${first.id}/execute`, { input: { n: 1 } })).status).toBe(200);
    expect(app.jobs.map((j) => j.code)).toEqual([adder.code, 'def execute(input):\n    return "new"\n']);
  });

  it('rejects input that breaks the schema naming the path and rule, before any job', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    const err = await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { input: { n: 0 } }, 'input.n');
    expect(err.details).toContainEqual(expect.objectContaining({ field: 'input.n', reason: 'minimum' }));
    // a missing property is named itself
    const missing = await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { input: {} }, 'input.n');
    expect(missing.details?.[0]?.reason).toBe('required');
    expect(app.jobs).toHaveLength(0);
  });

  it('accepts a draft-07 schema and applies it', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app, {
      ...adder,
      input_schema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { n: { type: 'string' } } },
    });
    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: { n: 'ok' } })).status).toBe(200);
    await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { input: { n: 1 } }, 'input.n');
    expect(app.jobs).toHaveLength(1);
  });

  it('answers a catastrophic-backtracking pattern quickly with 400', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app, { ...adder, input_schema: { type: 'string', pattern: '^(a+)+$' } });
    const started = performance.now();
    const err = await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { input: `${'a'.repeat(5000)}b` }, 'input');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(err.details?.[0]?.reason).toBe('pattern');
    expect(app.jobs).toHaveLength(0);
  });
});

const nested = (levels: number): object => (levels === 0 ? { type: 'object' } : { not: nested(levels - 1) });

describe('invalid input schemas', () => {
  it.each([
    ['a bad type', { type: 'integr' }, 'enum'],
    ['draft-04', { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' }, 'unsupported_draft'],
    ['an unresolvable $ref', { $ref: '#/$defs/missing' }, 'invalid_schema'],
    ['a lookbehind pattern', { type: 'string', pattern: '(?<=a)b' }, 'invalid_schema'],
    ['nesting deeper than 64 levels', nested(70), 'custom'],
    ['over 256 KiB', { type: 'string', description: 'x'.repeat(257 * 1024) }, 'custom'],
    ['over 256 KiB in multi-byte characters', { type: 'string', description: '\u00e9'.repeat(130 * 1024) }, 'custom'],
    ['not an object', [{ type: 'string' }], 'custom'],
  ])('rejects %s naming input_schema, on create and on update', async (_name, input_schema, reason) => {
    const app = await buildTestApp();
    const res = await app.request('POST', '/v1/tools', { ...adder, input_schema });
    expect(res.status).toBe(400);
    const err = (await res.json()) as ErrorBody;
    expect(err.message).toContain('input_schema');
    expect(fields(err).every((f) => f?.startsWith('input_schema'))).toBe(true);
    expect(err.details?.[0]?.reason).toBe(reason);
    const tool = await createTool(app, { ...adder, input_schema: null });
    const upd = await app.request('POST', `/v1/tools/${tool.id}`, { input_schema });
    expect(upd.status).toBe(400);
    expect(((await upd.json()) as ErrorBody).message).toContain('input_schema');
  });

  it('refuses a schema nested thousands deep by its depth, never a 5xx', async () => {
    const app = await buildTestApp();
    const deep = `${'{"not":'.repeat(5000)}{"type":"object"}${'}'.repeat(5000)}`;
    const res = await app.request('POST', '/v1/tools', `{"name":"d","language":"python","code":"x","input_schema":${deep}}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).message).toContain('input_schema: must not nest deeper than 64 levels');
  });

  it("cannot $ref another tool's schema by its $id (another project's, say), nor be blocked by it", async () => {
    const app = await buildTestApp();
    const owner = { $id: 'https://a.example/private', type: 'object', required: ['ssn'], properties: { ssn: { pattern: '^123-' } } };
    expect((await app.request('POST', '/v1/tools', { ...adder, input_schema: owner })).status).toBe(200);
    const thief = await app.request('POST', '/v1/tools', { ...adder, input_schema: { $ref: 'https://a.example/private' } }, PROJECT_B_KEY);
    expect(thief.status).toBe(400);
    expect(((await thief.json()) as ErrorBody).message).toContain("can't resolve reference");
    // the same $id again (an update that keeps it, or another tool) is no conflict
    expect((await app.request('POST', '/v1/tools', { ...adder, input_schema: { ...owner, description: 'v2' } })).status).toBe(200);
  });

  it('checks uniqueItems and enum in linear time: 40,000 objects answer at once', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app, {
      ...adder,
      input_schema: { type: 'array', uniqueItems: true, items: { enum: Array.from({ length: 5000 }, (_, i) => ({ v: i })) } },
    });
    const items = Array.from({ length: 40_000 }, (_, i) => ({ v: i % 5000 }));
    const started = performance.now();
    const res = await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: items });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).details?.[0]).toMatchObject({ field: 'input', reason: 'uniqueItems' });
    expect(performance.now() - started).toBeLessThan(5000); // pairwise comparison took minutes
    const ok = await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: [{ v: 1 }, { v: 2 }] });
    expect(ok.status).toBe(200);
  });

  it('accepts a schema nested 60 levels deep', async () => {
    const app = await buildTestApp();
    expect((await app.request('POST', '/v1/tools', { ...adder, input_schema: nested(59) })).status).toBe(200);
  });
});

describe('bad requests name the field', () => {
  it.each(['limit=0', 'limit=101', 'limit=x'])('rejects ?%s naming limit', async (q) => {
    const app = await buildTestApp();
    await rejects(app, 'GET', `/v1/tools?${q}`, undefined, 'limit');
  });

  it('rejects a malformed starting_after on tools and revisions', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    await rejects(app, 'GET', '/v1/tools?starting_after=tool_nope', undefined, 'starting_after');
    await rejects(app, 'GET', `/v1/tools/${tool.id}/revisions?starting_after=${tool.id}`, undefined, 'starting_after');
  });

  it('answers an unknown tool with 404 and an unknown revision_id with 400 naming revision_id', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    await rejects(app, 'GET', `/v1/tools/${MISSING_TOOL}`, undefined, 'id', 404);
    await rejects(app, 'POST', `/v1/tools/${MISSING_TOOL}/execute`, { revision_id: tool.revision_id }, 'id', 404);
    await rejects(
      app,
      'POST',
      `/v1/tools/${tool.id}/execute`,
      { input: { n: 1 }, revision_id: 'rev_000000000000000000000000' },
      'revision_id',
    );
    const other = await createTool(app, { ...adder, name: 'other' });
    await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { input: { n: 1 }, revision_id: other.revision_id }, 'revision_id');
    expect(app.jobs).toHaveLength(0);
  });

  const secretAuth = (auth: object) => ({ http: { allow: [{ host: 'api.example.com', auth }] } });
  it.each([
    ['empty code', 'code', { code: '' }],
    ['code over 1 MiB', 'code', { code: 'x'.repeat(1024 * 1024 + 1) }],
    ['an unknown secret in env', 'env.0.secret_id', { env: [{ name: 'TOKEN', secret_id: MISSING_SECRET }] }],
    ['an unknown secret in http auth', 'http.allow.0.auth.bearer.secret_id', secretAuth({ bearer: { secret_id: MISSING_SECRET } })],
    ['a literal bearer token', 'http.allow.0.auth.bearer.secret_id', secretAuth({ bearer: { token: 'literal-token' } })],
    ['a literal header value', 'http.allow.0.auth.header.secret_id', secretAuth({ header: { name: 'X-Key', value: 'literal' } })],
    ['both value and secret_id', 'env.0.value', { env: [{ name: 'TOKEN', value: 'v', secret_id: MISSING_SECRET }] }],
    ['an empty name', 'name', { name: '' }],
    ['an unknown language', 'language', { language: 'ruby' }],
    ['an unknown runtime_revision_id', 'runtime_revision_id', { runtime_revision_id: 'rtrev_1' }],
  ])('rejects a tool with %s naming %s and stores nothing', async (_name, field, change) => {
    const app = await buildTestApp();
    await rejects(app, 'POST', '/v1/tools', { ...adder, ...change }, field);
    expect(((await (await app.request('GET', '/v1/tools')).json()) as { tools: unknown[] }).tools).toEqual([]);
  });

  it('rejects an update with no fields, and keeps the tool as it was', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    const res = await app.request('POST', `/v1/tools/${tool.id}`, {});
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).message).toContain('at least one field');
    expect(await (await app.request('GET', `/v1/tools/${tool.id}`)).json()).toEqual(tool);
  });

  it('rejects caller env that rebinds a name the tool binds, and unknown caller secrets', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app, { ...adder, input_schema: null, env: [{ name: 'MODE', value: 'prod' }] });
    await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { env: [{ name: 'MODE', value: 'dev' }] }, 'env.0.name');
    await rejects(app, 'POST', `/v1/tools/${tool.id}/execute`, { env: [{ name: 'OTHER', secret_id: MISSING_SECRET }] }, 'env.0.secret_id');
    expect(app.jobs).toHaveLength(0);
    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, { env: [{ name: 'EXTRA', value: 'x' }] })).status).toBe(200);
    expect(app.jobs[0]!.env).toEqual({ MODE: 'prod', EXTRA: 'x' });
    expect((app.jobs[0] as FunctionJob).input).toBeNull();
  });
});

describe('concurrent updates', () => {
  it('two updates at once both land: neither change is lost', async () => {
    const app = await buildTestApp();
    const tool = await createTool(app);
    const [a, b] = await Promise.all([
      app.request('POST', `/v1/tools/${tool.id}`, { name: 'renamed' }),
      app.request('POST', `/v1/tools/${tool.id}`, { code: 'def execute(input):\n    return 7\n' }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const now = (await (await app.request('GET', `/v1/tools/${tool.id}`)).json()) as { name: string; code: string };
    expect(now).toMatchObject({ name: 'renamed', code: 'def execute(input):\n    return 7\n' });
    const revisions = (await (await app.request('GET', `/v1/tools/${tool.id}/revisions`)).json()) as { revisions: unknown[] };
    expect(revisions.revisions).toHaveLength(3);
  });
});
