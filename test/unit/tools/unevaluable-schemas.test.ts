// Schemas that cannot be evaluated are refused when saved, on /v1/tools and iii's /v1/functions;
// one saved before that check (put in the store directly here) is a 400 on every run, never a 500.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { API_KEY, buildTestApp, jsonHeaders, type ErrorBody } from '../../helpers/app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;

const CYCLIC = [{ allOf: [{ $ref: '#' }] }, { $dynamicAnchor: 'a', $dynamicRef: '#a' }];
const TREE = {
  type: 'object',
  properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } },
  required: ['name'],
};
const tool = { name: 'walker', language: 'python', code: 'def execute(input):\n    return input\n' };

/** A tree `levels` nodes deep, each named. */
function tree(levels: number): object {
  const root: { name: string; children?: object[] } = { name: 'n0' };
  let node = root;
  for (let i = 1; i < levels; i++) {
    const child = { name: `n${i}` };
    node.children = [child];
    node = child;
  }
  return root;
}

async function errorOf(res: Response, status = 400): Promise<ErrorBody> {
  expect(res.status).toBe(status);
  return (await res.json()) as ErrorBody;
}

/** A tool as one saved before schemas were checked for loops: straight into the store. */
async function storedCyclicTool(app: App, schema: object): Promise<string> {
  const toolId = `tool_${'c'.repeat(24)}`;
  await app.store.tools.create({
    id: `rev_${'c'.repeat(24)}`,
    toolId,
    project: 'default',
    name: 'looping',
    description: '',
    language: 'python',
    code: tool.code,
    inputSchema: schema,
    runtimeRevisionId: null,
    env: [],
    http: null,
    createdAt: new Date().toISOString(),
  });
  return toolId;
}

describe('/v1/tools', () => {
  it.each(CYCLIC)('refuses %j on create and on update with a 400 naming input_schema', async (schema) => {
    const app = await buildTestApp();
    const created = await errorOf(await app.request('POST', '/v1/tools', { ...tool, input_schema: schema }));
    expect(created.message).toMatch(/^input_schema: refers back to itself/);
    expect(created.details).toEqual([expect.objectContaining({ field: 'input_schema', reason: 'schema_cycle' })]);
    const saved = (await (await app.request('POST', '/v1/tools', tool)).json()) as { id: string };
    const updated = await errorOf(await app.request('POST', `/v1/tools/${saved.id}`, { input_schema: schema }));
    expect(updated.details?.[0]).toMatchObject({ field: 'input_schema', reason: 'schema_cycle' });
  });

  it('accepts a tree whose children.items is the node, and checks a deep tree against it', async () => {
    const app = await buildTestApp();
    const res = await app.request('POST', '/v1/tools', { ...tool, input_schema: TREE });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const ran = await app.request('POST', `/v1/tools/${id}/execute`, { input: tree(400) }); // 800 levels of JSON
    expect(ran.status).toBe(200);
    const bad = tree(400) as { children: { children?: object[]; name?: unknown }[] };
    let node: { children?: object[]; name?: unknown } = bad;
    while (node.children) node = node.children[0] as typeof node;
    node.name = 7;
    const refused = await errorOf(await app.request('POST', `/v1/tools/${id}/execute`, { input: bad }));
    expect(refused.details?.[0]).toMatchObject({ reason: 'type', field: expect.stringMatching(/^input\.children\.0\./) });
  });

  it('a looping schema saved before the check is a 400 on every run: sync, async and MCP', async () => {
    const app = await buildTestApp();
    const id = await storedCyclicTool(app, CYCLIC[1]!); // ajv compiles this one: each run overflowed (a 500)
    const sync = await errorOf(await app.request('POST', `/v1/tools/${id}/execute`, { input: {} }));
    expect(sync.details?.[0]).toMatchObject({ field: 'input_schema', reason: 'schema_cycle' });
    const queued = await errorOf(
      await app.app.request(`/v1/tools/${id}/execute`, {
        method: 'POST',
        headers: { ...jsonHeaders, Prefer: 'respond-async' },
        body: '{"input":{}}',
      }),
    );
    expect(queued.details?.[0]).toMatchObject({ field: 'input_schema', reason: 'schema_cycle' });

    const transport = new StreamableHTTPClientTransport(new URL('http://kiln.test/mcp'), {
      requestInit: { headers: { Authorization: `Bearer ${API_KEY}` } },
      fetch: (url, init) => Promise.resolve(app.app.request(String(url), init as RequestInit)),
    });
    const client = new Client({ name: 'kiln-unit', version: '1' });
    await client.connect(transport);
    const err = await client.callTool({ name: 'looping', arguments: {} }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((err as McpError).data).toMatchObject({ code: 'BAD_REQUEST', details: [{ field: 'input_schema', reason: 'schema_cycle' }] });
    expect(app.jobs).toEqual([]);
  });
});

describe("iii's /v1/functions", () => {
  const register = (app: App, fn: object) =>
    app.request('POST', '/v1/functions', { id: 'f', invocation: { url: 'https://example.com/f' }, ...fn });

  it.each(CYCLIC)('refuses a request_format of %j with a 400 naming request_format', async (schema) => {
    const app = await buildTestApp();
    const err = await errorOf(await register(app, { request_format: schema }));
    expect(err.details?.[0]).toMatchObject({ field: 'request_format', reason: 'schema_cycle' });
  });

  it.each(['request_format', 'response_format', 'metadata'])(
    'refuses a %s nested past 64 levels naming it (request_format at 1,000 was a 500)',
    async (field) => {
      const app = await buildTestApp();
      const deep = `${'{"not":'.repeat(1000)}{}${'}'.repeat(1000)}`;
      const res = await app.request('POST', '/v1/functions', `{"id":"f","invocation":{"url":"https://example.com/f"},"${field}":${deep}}`);
      const err = await errorOf(res);
      expect(err.details?.[0]).toMatchObject({ field, message: 'must not nest deeper than 64 levels' });
    },
  );

  it('refuses a metadata over 256 KiB naming it, and takes a tree request_format', async () => {
    const app = await buildTestApp();
    const big = await errorOf(await register(app, { metadata: { blob: 'x'.repeat(257 * 1024) } }));
    expect(big.details?.[0]).toMatchObject({ field: 'metadata', message: 'must be at most 262144 bytes of JSON' });
    expect((await register(app, { request_format: TREE, response_format: TREE, metadata: { team: 'a' } })).status).toBe(200);
  });
});
