// /mcp with the real MCP SDK client, its HTTP requests handed to the app in-process (the runner is
// fake here; test/integration/mcp.test.ts runs the same client against kiln and Docker).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../../src/errors.js';
import type { RunJob } from '../../../../src/sandbox/job.js';
import { API_KEY, buildTestApp, fakeResult, PROJECT_B_KEY } from '../../../helpers/app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;

async function connect(app: App, key = API_KEY): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL('http://kiln.test/mcp'), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
    fetch: (url, init) => Promise.resolve(app.app.request(String(url), init as RequestInit)),
  });
  const client = new Client({ name: 'kiln-unit', version: '1' });
  await client.connect(transport);
  return client;
}

/** The McpError a call rejects with. */
async function rpcError(call: Promise<unknown>): Promise<McpError> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(McpError);
  return err as McpError;
}

const rpc = (app: App, body: unknown, headers: Record<string, string> = {}) =>
  app.app.request('/mcp', {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${API_KEY}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const BUILTIN_NAMES = ['execute_python', 'execute_javascript', 'execute_typescript', 'execute_with_tools'];
const SESSION_NAMES = ['start_session', 'end_session', 'write_file', 'read_file', 'list_files'];

describe('/mcp tools', () => {
  it('lists the built-ins (three languages, and code with tools), each with an input and an output schema, then the session tools', async () => {
    const app = await buildTestApp();
    const client = await connect(app);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([...BUILTIN_NAMES, ...SESSION_NAMES]);
    for (const t of tools.slice(0, BUILTIN_NAMES.length)) {
      expect(t.inputSchema).toMatchObject({ type: 'object', required: ['code'] });
      expect(t.outputSchema).toMatchObject({ type: 'object', required: expect.arrayContaining(['exit_code', 'stdout', 'execution_id']) });
    }
    expect(client.getInstructions()).toContain('kiln');
  });

  it('runs a script without input and a function with it; each call is an execution marked mcp', async () => {
    const app = await buildTestApp();
    const client = await connect(app);
    const script = await client.callTool({ name: 'execute_python', arguments: { code: 'print(1)', stdin: 'x', timeout_seconds: 5 } });
    expect(app.jobs.at(-1)).toMatchObject({ mode: 'script', stdin: 'x', timeoutMs: 5000, code: 'print(1)' });
    expect(script.isError).toBe(false);
    expect(script.structuredContent).toMatchObject({ exit_code: 0, stdout: 'ran python script', stop_reason: 'exited' });
    expect(script.structuredContent).not.toHaveProperty('output');

    const fn = await client.callTool({
      name: 'execute_typescript',
      arguments: { code: 'export function execute(i: any) { return i }', input: { a: 1 } },
    });
    expect(app.jobs.at(-1)).toMatchObject({ mode: 'function', input: { a: 1 } });
    expect(fn.structuredContent).toMatchObject({ output: { echoed: { a: 1 } }, output_status: 'valid' });
    expect((fn.content as { text: string }[])[0]!.text).toContain('{"echoed":{"a":1}}');

    const id = (fn.structuredContent as { execution_id: string }).execution_id;
    const logged = await (await app.request('GET', `/v1/executions/${id}`)).json();
    expect(logged).toMatchObject({ language: 'typescript', details: { type: 'function', via: 'mcp' } });
    const list = (await (await app.request('GET', '/v1/executions')).json()) as { data: { details: { via: string } }[] };
    expect(list.data.map((e) => e.details.via)).toEqual(['mcp', 'mcp']);
  });

  it('sets isError for an exception, a non-zero exit and a timeout', async () => {
    const outcomes: Partial<ReturnType<typeof fakeResult>>[] = [
      { outputStatus: 'error', stderr: 'ZeroDivisionError', exitCode: 1 },
      { exitCode: 3 },
      { stopReason: 'timeout', exitCode: -1 },
    ];
    let i = 0;
    const runJob: RunJob = async (job) => ({ ...fakeResult(job), ...outcomes[i++] });
    const client = await connect(await buildTestApp({ runJob }));
    const fn = await client.callTool({ name: 'execute_python', arguments: { code: 'def execute(i): 1/0', input: null } });
    expect(fn).toMatchObject({ isError: true, structuredContent: { output_status: 'error', stderr: 'ZeroDivisionError' } });
    const exit = await client.callTool({ name: 'execute_python', arguments: { code: 'exit(3)' } });
    expect(exit).toMatchObject({ isError: true, structuredContent: { exit_code: 3 } });
    const timeout = await client.callTool({ name: 'execute_javascript', arguments: { code: 'for(;;){}' } });
    expect(timeout).toMatchObject({ isError: true, structuredContent: { stop_reason: 'timeout' } });
    expect((timeout.content as { text: string }[])[0]!.text).toMatch(/^Failed: stopped \(timeout\)/);
  });

  it('caps what a model is given: head and tail, with the bytes cut and the execution id', async () => {
    const stdout = `HEAD${'é'.repeat(5000)}${'x'.repeat(10_000)}TAIL`;
    const runJob: RunJob = async (job) => ({ ...fakeResult(job), stdout, outputJson: JSON.stringify('y'.repeat(3000)) });
    const client = await connect(await buildTestApp({ runJob, env: { KILN_MCP_OUTPUT_LIMIT_BYTES: '1000' } }));
    const res = await client.callTool({ name: 'execute_python', arguments: { code: 'x', input: 1 } });
    const s = res.structuredContent as Record<string, unknown>;
    const out = s.stdout as string;
    expect(out.startsWith('HEADéé')).toBe(true);
    expect(out.endsWith('xxTAIL')).toBe(true);
    expect(out).not.toContain('\uFFFD'); // never a character cut in half
    const cut = Number(/kiln cut (\d+) bytes/.exec(out)![1]);
    expect(Buffer.byteLength(out) - Buffer.byteLength(/\n\[….*…\]\n/.exec(out)![0]) + cut).toBe(Buffer.byteLength(stdout));
    expect(out).toContain(`GET /v1/executions/${s.execution_id}`);
    expect(s).toMatchObject({ stdout_truncated: true, stderr_truncated: false, output_truncated: true });
    expect(s).not.toHaveProperty('output');
    expect((res.content as { text: string }[])[0]!.text).toContain('kiln cut');
  });
});

describe('/mcp saved tools', () => {
  const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false };

  it('lists each saved tool under a valid, unique name and runs its latest revision', async () => {
    const app = await buildTestApp();
    const first = await (
      await app.request('POST', '/v1/tools', {
        name: 'add one!',
        description: 'adds',
        language: 'python',
        code: 'c1',
        input_schema: schema,
      })
    ).json();
    await app.request('POST', '/v1/tools', { name: 'add one?', language: 'javascript', code: 'c2' });
    await app.request('POST', '/v1/tools', { name: 'execute_python', language: 'python', code: 'c3', input_schema: { type: 'string' } });
    const client = await connect(app);
    const { tools } = await client.listTools();
    const saved = tools.slice(BUILTIN_NAMES.length + SESSION_NAMES.length);
    const names = saved.map((t) => t.name);
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
    expect(saved.find((t) => t.title === 'add one!')).toMatchObject({ name: 'add_one_', description: 'adds', inputSchema: schema });
    expect(saved.find((t) => t.title === 'add one?')!.name).toMatch(/^add_one__[0-9a-f]{8}$/); // the older one keeps the plain name
    const wrapped = saved.find((t) => t.title === 'execute_python')!;
    expect(wrapped.name).not.toBe('execute_python');
    expect(wrapped.inputSchema).toMatchObject({ type: 'object', properties: { input: { type: 'string' } }, required: ['input'] });

    await app.request('POST', `/v1/tools/${first.id}`, { code: 'c1 v2' });
    const ran = await client.callTool({ name: 'add_one_', arguments: { n: 2 } });
    expect(ran.isError).toBe(false);
    expect(app.jobs.at(-1)).toMatchObject({ mode: 'function', code: 'c1 v2', input: { n: 2 } });
    await client.callTool({ name: wrapped.name, arguments: { input: 'hi' } });
    expect(app.jobs.at(-1)).toMatchObject({ code: 'c3', input: 'hi' });
    const logged = (await (await app.request('GET', '/v1/executions')).json()) as { data: { details: Record<string, unknown> }[] };
    expect(logged.data[0]!.details).toMatchObject({ type: 'tool', via: 'mcp' });
  });

  it('bad arguments are JSON-RPC InvalidParams errors naming the argument, and nothing runs', async () => {
    const app = await buildTestApp({ env: { KILN_MAX_TIMEOUT_SECONDS: '60' } });
    await app.request('POST', '/v1/tools', { name: 'sq', language: 'python', code: 'c', input_schema: schema });
    const client = await connect(app);
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['sq', { n: 'seven' }, /^arguments\.n: /],
      ['execute_python', { code: 'x', timeout_seconds: 61 }, /^timeout_seconds: .*60/],
      ['execute_python', {}, /^code: /],
      ['execute_python', { code: 'x', input: 1, stdin: 'y' }, /^stdin: /],
      ['execute_python', { code: 'x', files: [{ path: '../etc/passwd', contents: '' }] }, /^files\.0\.path: /],
      ['execute_python', { code: 'x', mode: 'shell' }, /mode/],
      ['nope', {}, /^name: no tool named "nope"/],
    ];
    for (const [name, args, message] of cases) {
      const err = await rpcError(client.callTool({ name, arguments: args }));
      expect(err.code, name).toBe(ErrorCode.InvalidParams);
      expect(err.message.replace(/^MCP error -?\d+: /, ''), name).toMatch(message);
    }
    expect(app.jobs).toHaveLength(0);
  });

  it('lists search_tools and call_tool instead of every tool past the limit', async () => {
    const app = await buildTestApp({ env: { KILN_MCP_TOOL_LIST_LIMIT: '2' } });
    for (const [name, description] of [
      ['weather', 'forecast for a city'],
      ['invoice', 'creates an invoice in billing'],
      ['refund', 'refunds a billing charge'],
    ])
      await app.request('POST', '/v1/tools', { name, description, language: 'python', code: name, input_schema: schema });
    const client = await connect(app);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([...BUILTIN_NAMES, ...SESSION_NAMES, 'search_tools', 'call_tool']);
    const found = await client.callTool({ name: 'search_tools', arguments: { query: 'billing' } });
    const hits = (found.structuredContent as { tools: { name: string; inputSchema: unknown }[] }).tools;
    expect(hits.map((t) => t.name)).toEqual(['refund', 'invoice']);
    expect(hits[0]!.inputSchema).toEqual(schema);
    const ran = await client.callTool({ name: 'call_tool', arguments: { name: 'invoice', arguments: { n: 4 } } });
    expect(ran.isError).toBe(false);
    expect(app.jobs.at(-1)).toMatchObject({ code: 'invoice', input: { n: 4 } });
    const bad = await rpcError(client.callTool({ name: 'call_tool', arguments: { name: 'invoice', arguments: { n: 'x' } } }));
    expect(bad.message).toContain('arguments.arguments.n');
  });

  it("another project's tools are neither listed nor callable, by name or by id", async () => {
    const app = await buildTestApp();
    const tool = await (await app.request('POST', '/v1/tools', { name: 'secret_tool', language: 'python', code: 'c' })).json();
    const other = await connect(app, PROJECT_B_KEY);
    expect((await other.listTools()).tools.map((t) => t.name)).not.toContain('secret_tool');
    for (const name of ['secret_tool', tool.id])
      expect((await rpcError(other.callTool({ name, arguments: {} }))).code).toBe(ErrorCode.InvalidParams);
    expect(app.jobs).toHaveLength(0);
  });

  it("a service fault is a JSON-RPC InternalError with kiln's code, not a tool result", async () => {
    const runJob: RunJob = async () => {
      throw new AppError('SANDBOX_UNAVAILABLE', 'the Docker engine is not answering', [{ reason: 'docker_unavailable' }], 5);
    };
    const client = await connect(await buildTestApp({ runJob }));
    const err = await rpcError(client.callTool({ name: 'execute_python', arguments: { code: 'x' } }));
    expect(err.code).toBe(ErrorCode.InternalError);
    expect(err.message).toContain('Docker engine is not answering');
    expect(err.data).toMatchObject({ code: 'SANDBOX_UNAVAILABLE', retry_after_seconds: 5 });
  });
});

describe('/mcp over HTTP', () => {
  it('401 with WWW-Authenticate without a key or with a wrong one', async () => {
    const app = await buildTestApp();
    for (const auth of [undefined, 'Bearer wrong']) {
      const res = await app.app.request('/mcp', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
        body: '{}',
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
    }
  });

  it('GET and DELETE are 405', async () => {
    const app = await buildTestApp();
    for (const method of ['GET', 'DELETE']) {
      const res = await app.request(method, '/mcp');
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toContain('POST');
    }
  });

  it('malformed JSON and non-JSON-RPC bodies get JSON-RPC errors, never a 5xx', async () => {
    const app = await buildTestApp();
    for (const body of [
      '{"jsonrpc":',
      '[]',
      '{"hello":1}',
      '"x"',
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 7 } }),
    ]) {
      const res = await rpc(app, body);
      expect(res.status, body).toBeLessThan(500);
      const answer = (await res.json()) as { error?: { code: number } };
      expect(answer.error?.code, body).toEqual(expect.any(Number));
    }
    const unknown = await rpc(app, { jsonrpc: '2.0', id: 2, method: 'no/such/method' });
    expect(await unknown.json()).toMatchObject({ id: 2, error: { code: ErrorCode.MethodNotFound } });
  });

  it('serves a client that accepts only JSON; refuses a foreign Origin, admits loopback and configured ones', async () => {
    const app = await buildTestApp({ env: { KILN_MCP_ALLOWED_ORIGINS: 'https://agent.example' } });
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    const plain = await rpc(app, list, { Accept: 'application/json' });
    expect(plain.status).toBe(200);
    expect(((await plain.json()) as { result: { tools: unknown[] } }).result.tools).toHaveLength(
      BUILTIN_NAMES.length + SESSION_NAMES.length,
    );
    expect((await rpc(app, list, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await rpc(app, list, { Origin: 'null' })).status).toBe(403);
    for (const origin of ['http://localhost:6274', 'http://127.0.0.1:3000', 'https://agent.example']) {
      const res = await rpc(app, list, { Origin: origin });
      expect(res.status, origin).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    }
  });
});
