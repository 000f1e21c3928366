// /mcp with the real MCP SDK client over HTTP, against kiln and the Docker engine: the built-ins,
// a saved tool whose bound secret reaches an HTTPS upstream on 127.0.0.1 (and never the traffic
// between the model's side and kiln), isError, the model's output cap and project isolation.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { startAuthUpstream, type AuthUpstream } from '../helpers/upstream.js';

const HOST = 'crm.test.internal';
const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
const OTHER_PROJECT_KEY = `other-${randomBytes(12).toString('hex')}`;
/** Every byte that passed between the MCP client and kiln. */
const wire: string[] = [];
let upstream: AuthUpstream;
let kiln: TestKiln;

beforeAll(async () => {
  upstream = await startAuthUpstream(HOST, TOKEN);
  kiln = await startTestKiln({ KILN_API_KEYS: `${TEST_KEY},b:${OTHER_PROJECT_KEY}`, KILN_MCP_OUTPUT_LIMIT_BYTES: '2000', ...upstream.env });
});
afterAll(async () => {
  await kiln?.close();
  upstream?.close();
});

async function connect(key = TEST_KEY): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
    fetch: async (url, init) => {
      wire.push(String(init?.body ?? ''));
      const res = await fetch(url, init);
      wire.push(await res.clone().text());
      return res;
    },
  });
  const client = new Client({ name: 'kiln-integration', version: '1' });
  await client.connect(transport);
  return client;
}

const text = (r: object) => (r as { content: { text: string }[] }).content[0]!.text;

describe('/mcp on the real engine', () => {
  it('runs each built-in: a Python script, a JavaScript function, TypeScript', async () => {
    const client = await connect();
    const py = await client.callTool({
      name: 'execute_python',
      arguments: { code: 'import sys\nprint("hi", sys.stdin.read())', stdin: 'there' },
    });
    expect(py).toMatchObject({ isError: false, structuredContent: { exit_code: 0, stdout: 'hi there\n', stop_reason: 'exited' } });
    const js = await client.callTool({
      name: 'execute_javascript',
      arguments: { code: 'function execute(input) { return input.a + input.b; }', input: { a: 2, b: 3 } },
    });
    expect(js).toMatchObject({ isError: false, structuredContent: { output: 5, output_status: 'valid' } });
    const ts = await client.callTool({
      name: 'execute_typescript',
      arguments: {
        code: 'import { readFileSync } from "node:fs";\nexport function execute(n: number): string { return readFileSync("data.txt", "utf8").repeat(n); }',
        input: 2,
        files: [{ path: 'data.txt', contents: 'ab' }],
      },
    });
    expect(ts.structuredContent).toMatchObject({ output: 'abab', output_status: 'valid' });
    expect(text(ts)).toMatch(/^Succeeded: exit code 0/);
  });

  it('a saved tool reaches its upstream with its bound secret, which never crosses the MCP wire', async () => {
    const secret = await kiln.post('/v1/secrets', { name: 'crm-token', value: TOKEN });
    const tool = await kiln.post('/v1/tools', {
      name: 'crm lookup',
      description: 'Looks a customer up in the CRM.',
      language: 'python',
      code: [
        'import json, urllib.request',
        'def execute(input):',
        `    return json.load(urllib.request.urlopen(f"https://${HOST}:${upstream.port}/customers/{input['id']}"))`,
      ].join('\n'),
      input_schema: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'], additionalProperties: false },
      http: { allow: [{ host: HOST, auth: { bearer: { secret_id: secret.body.id } } }] },
    });
    expect(tool.status).toBe(200);
    const client = await connect();
    const listed = (await client.listTools()).tools.find((t) => t.name === 'crm_lookup');
    expect(listed).toMatchObject({ description: 'Looks a customer up in the CRM.', inputSchema: { required: ['id'] } });
    const res = await client.callTool({ name: 'crm_lookup', arguments: { id: 42 } });
    expect(res).toMatchObject({ isError: false, structuredContent: { output: { authorized: true, path: '/customers/42' } } });
    expect(upstream.seen.at(-1)).toBe(`Bearer ${TOKEN}`);
    expect(wire.join('\n')).not.toContain(TOKEN);
    const logged = await kiln.request('GET', `/v1/executions/${(res.structuredContent as { execution_id: string }).execution_id}`);
    expect(logged.body.details).toMatchObject({ type: 'tool', via: 'mcp', tool_id: tool.body.id });
  });

  it('sets isError for an exception and a timeout, with what the model needs to correct itself', async () => {
    const client = await connect();
    const raised = await client.callTool({
      name: 'execute_python',
      arguments: { code: 'def execute(input):\n    return 1 / input', input: 0 },
    });
    expect(raised.isError).toBe(true);
    expect(raised.structuredContent).toMatchObject({ output_status: 'error' });
    expect(text(raised)).toContain('ZeroDivisionError');
    const slow = await client.callTool({ name: 'execute_javascript', arguments: { code: 'while (true) {}', timeout_seconds: 1 } });
    expect(slow).toMatchObject({ isError: true, structuredContent: { stop_reason: 'timeout' } });
    const exit = await client.callTool({ name: 'execute_python', arguments: { code: 'import sys\nsys.exit(4)' } });
    expect(exit).toMatchObject({ isError: true, structuredContent: { exit_code: 4 } });
  });

  it('caps output for the model; the executions log keeps all of it', async () => {
    const client = await connect();
    const res = await client.callTool({ name: 'execute_python', arguments: { code: 'print("A" * 50000 + "END")' } });
    const s = res.structuredContent as { stdout: string; stdout_truncated: boolean; execution_id: string };
    expect(Buffer.byteLength(s.stdout)).toBeLessThan(2200);
    expect(s.stdout).toMatch(/^A+\n\[… kiln cut \d+ bytes here; the whole text: GET \/v1\/executions\/exec_\w+ …\]\nA+END\n$/);
    expect(s.stdout_truncated).toBe(true);
    const logged = await kiln.request('GET', `/v1/executions/${s.execution_id}`);
    expect(logged.body.details.response.stdout).toBe(`${'A'.repeat(50000)}END\n`);
  });

  it("another project neither lists nor runs this project's tools", async () => {
    const created = await kiln.post('/v1/tools', {
      name: 'private_tool',
      language: 'python',
      code: 'def execute(input):\n    return "mine"',
    });
    const other = await connect(OTHER_PROJECT_KEY);
    // the built-ins and the session tools: none of this project's saved tools
    const otherTools = (await other.listTools()).tools;
    expect(otherTools.map((t) => t.name)).toEqual([
      'execute_python',
      'execute_javascript',
      'execute_typescript',
      'execute_with_tools',
      'start_session',
      'end_session',
      'write_file',
      'read_file',
      'list_files',
    ]);
    // nor does code with tools name them
    expect(otherTools.find((t) => t.name === 'execute_with_tools')?.description).not.toContain('private_tool');
    for (const name of ['private_tool', created.body.id]) {
      const err = await other.callTool({ name, arguments: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
    }
  });

  it('401 without a key; malformed JSON-RPC is a JSON-RPC error, never a 5xx', async () => {
    const noKey = await fetch(`${kiln.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('www-authenticate')).toMatch(/^Bearer/);
    for (const body of [
      '{not json',
      '{"jsonrpc":"2.0","id":1}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_python","arguments":"x"}}',
    ]) {
      const res = await kiln.post('/mcp', body, { accept: 'application/json, text/event-stream' });
      expect(res.status, body).toBeLessThan(500);
      expect(res.body, body).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) } });
    }
  });
});
