// Tools callable from code (issue 27), on the real engine: a program imports the project's saved
// tools (`kiln_tools`, `kiln:tools`) and calls them as functions; each call is a child execution in
// a box of its own, with its own credentials, which never reach the parent. Budgets (children,
// depth, the root's time) and recursion are refused as ToolError; children are in the answer and
// the log, each with its parent.
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln, untilExecution } from '../helpers/kiln.js';

let kiln: TestKiln;
const OTHER = `other:other-project-key-${randomBytes(6).toString('hex')}`;
const OTHER_KEY = OTHER.slice('other:'.length);
const ids: Record<string, string> = {};
const SECRET = `tok-${randomBytes(12).toString('hex')}`;

const tool = async (name: string, code: string, extra: Record<string, unknown> = {}, key = TEST_KEY) => {
  const res = await kiln.request('POST', '/v1/tools', { name, language: 'python', code, ...extra }, key);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  ids[name] = res.body.id;
  return res.body.id as string;
};

beforeAll(async () => {
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},${OTHER}`,
    KILN_POOL_PYTHON: '3',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '1',
  });
  await tool('add', 'def execute(input):\n    return {"sum": input["a"] + input["b"]}', {
    description: 'Adds two numbers.',
    input_schema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
  });
  await tool('shout', 'def execute(input):\n    return {"text": input["text"].upper()}');
  await tool('fails', 'def execute(input):\n    raise ValueError("the upstream said no")');
  await tool('sleeps', 'import time\ndef execute(input):\n    time.sleep(30)');
  const secret = await kiln.post('/v1/secrets', { name: 'api-token', value: SECRET });
  await tool(
    'secretive',
    'import os\ndef execute(input):\n    print("child sees", os.environ["API_TOKEN"])\n    return {"token": os.environ["API_TOKEN"]}',
    {
      env: [{ name: 'API_TOKEN', secret_id: secret.body.id }],
    },
  );
  await tool('level_one', 'from kiln_tools import level_two\ndef execute(input):\n    return {"one": level_two()}');
  await tool('level_two', 'from kiln_tools import level_three\ndef execute(input):\n    return {"two": level_three()}');
  await tool('level_three', 'def execute(input):\n    return {"three": True}');
  await tool('selfish', 'from kiln_tools import selfish\ndef execute(input):\n    return selfish()');
  await tool('theirs', 'def execute(input):\n    return 1', {}, OTHER_KEY);
}, 120_000);
afterAll(async () => {
  await kiln?.close();
});

const run = (code: string, tools: unknown, extra: Record<string, unknown> = {}) =>
  kiln.post('/v1/execute-function', { language: 'python', code, input: null, tools, ...extra });

describe('tools callable from code', () => {
  it('a Python program calls two tools in a loop of 20 and joins their outputs; the answer and the log list the children', {
    timeout: 120_000,
  }, async () => {
    const res = await run(
      [
        'from kiln_tools import add, shout',
        'def execute(input):',
        '    out = []',
        '    for i in range(20):',
        '        out.append(add(a=i, b=1)["sum"] if i % 2 == 0 else shout({"text": f"n{i}"})["text"])',
        '    return out',
      ].join('\n'),
      ['add', 'shout'],
    );
    expect(res.status).toBe(200);
    expect(res.body.output_status).toBe('valid');
    expect(res.body.output).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? i + 1 : `N${i}`)));
    const children = res.body.execution.children as { id: string; tool: string; outcome: string }[];
    expect(children).toHaveLength(20);
    expect(children.every((c) => c.outcome === 'ok')).toBe(true);
    const child = await kiln.request('GET', `/v1/executions/${children[0]!.id}`);
    expect(child.body.details).toMatchObject({ parent_id: res.body.execution.id, tool_id: ids.add });
    const parent = await kiln.request('GET', `/v1/executions/${res.body.execution.id}`);
    expect(parent.body.details.response.execution.children).toHaveLength(20);
  });

  it("a TypeScript program imports them from kiln:tools, typed; a failure is a ToolError carrying the tool's error", {
    timeout: 120_000,
  }, async () => {
    const res = await kiln.post('/v1/execute-function', {
      language: 'typescript',
      tools: 'all',
      input: null,
      code: [
        "import { add, fails, ToolError } from 'kiln:tools';",
        'async function execute(): Promise<unknown> {',
        '  const sums: number[] = [];',
        '  for (let i = 0; i < 5; i++) sums.push(((await add({ a: i, b: i })) as { sum: number }).sum);',
        '  try { await fails({}); return { sums, failed: false }; }',
        '  catch (e) { const err = e as ToolError; return { sums, failed: e instanceof ToolError, type: err.error.type, message: err.error.message }; }',
        '}',
      ].join('\n'),
    });
    expect(res.body.output_status, JSON.stringify(res.body)).toBe('valid');
    expect(res.body.output).toEqual({
      sums: [0, 2, 4, 6, 8],
      failed: true,
      type: 'tool_error',
      message: expect.stringContaining('the upstream said no'),
    });
  });

  it("the parent never sees a child's secret: not in its env, its files, nor the tool's answer", { timeout: 60_000 }, async () => {
    const res = await run(
      [
        'import os, subprocess',
        'from kiln_tools import secretive',
        'def execute(input):',
        '    answer = secretive()',
        '    print(dict(os.environ))',
        '    print(subprocess.run(["sh", "-c", "cat /proc/*/environ 2>/dev/null; ls -R /mnt/req /tmp 2>/dev/null"], capture_output=True, text=True).stdout)',
        '    return answer',
      ].join('\n'),
      ['secretive'],
    );
    expect(res.body.output_status).toBe('valid');
    expect(res.body.output).toEqual({ token: '[redacted secret]' });
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    const child = await kiln.request('GET', `/v1/executions/${res.body.execution.children[0].id}`);
    expect(JSON.stringify(child.body)).not.toContain(SECRET);
  });

  it("refuses the 21st child, the third level, a tool calling itself, and a child past the root's time", { timeout: 120_000 }, async () => {
    const many = await run(
      [
        'from kiln_tools import add, ToolError',
        'def execute(input):',
        '    done = 0',
        '    try:',
        '        for i in range(25):',
        '            add(a=1, b=i)',
        '            done += 1',
        '    except ToolError as e:',
        '        return {"done": done, "type": e.error["type"]}',
      ].join('\n'),
      ['add'],
    );
    expect(many.body.output).toEqual({ done: 20, type: 'budget_children' });

    const deep = await run(
      'from kiln_tools import level_one, ToolError\ndef execute(input):\n    try:\n        return level_one()\n    except ToolError as e:\n        return e.error',
      ['level_one', 'level_two', 'level_three'],
    );
    // level_one (depth 1) calls level_two (depth 2), whose call to level_three (depth 3) is refused
    expect(JSON.stringify(deep.body.output)).toContain('nest at most 2 deep');
    const one = await kiln.request('GET', `/v1/executions/${deep.body.execution.children[0].id}`);
    expect(one.body.details.response.execution.children).toMatchObject([{ tool: 'level_two', outcome: 'tool_error' }]);

    const selfish = await run(
      'from kiln_tools import selfish, ToolError\ndef execute(input):\n    try:\n        return selfish()\n    except ToolError as e:\n        return e.error',
      ['selfish'],
    );
    expect(JSON.stringify(selfish.body.output)).toContain('already running above this call');

    const slow = await run(
      'from kiln_tools import sleeps, ToolError\ndef execute(input):\n    try:\n        sleeps()\n    except ToolError as e:\n        return e.error["type"]',
      ['sleeps'],
      { limits: { execution_timeout: 6 } },
    );
    expect(slow.body.output).toBe('timeout');
  });

  it("another project's tool is not callable; a key limited to some tools cannot reach others through code", {
    timeout: 60_000,
  }, async () => {
    const theirs = await run('def execute(input):\n    return 1', [ids.theirs]);
    expect(theirs.status).toBe(400);
    expect(theirs.body.details[0]).toMatchObject({ field: 'tools[0]', reason: 'not_found' });
    const byName = await run('def execute(input):\n    return 1', ['theirs']);
    expect(byName.status).toBe(400);
    const limited = (await kiln.post('/v1/keys', { name: 'two-tools', scopes: [`tools:${ids.add}`] })).body as { secret: string };
    const own = await kiln.request('POST', `/v1/tools/${ids.add}/execute`, { input: { a: 1, b: 2 } }, limited.secret);
    expect(own.body.output).toEqual({ sum: 3 });
    const direct = await kiln.request(
      'POST',
      '/v1/execute-function',
      { language: 'python', code: 'def execute(i):\n    return 1', tools: ['add'] },
      limited.secret,
    );
    expect(direct.status).toBe(403); // code of its own is not a tool
  });

  it('MCP: execute_with_tools lists the callable functions with their types, and runs a program that calls them', {
    timeout: 60_000,
  }, async () => {
    const client = new Client({ name: 'code-mode', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TEST_KEY}` } } }),
    );
    try {
      const listed = (await client.listTools()).tools.find((t) => t.name === 'execute_with_tools');
      expect(listed?.description).toContain('- add(input: { a: number; b: number; }) — Adds two numbers.');
      expect(listed?.description).toContain('from kiln_tools import');
      const ran = await client.callTool({
        name: 'execute_with_tools',
        arguments: { code: 'from kiln_tools import add\nprint(sum(add(a=i, b=i)["sum"] for i in range(4)))', tools: ['add'] },
      });
      expect(ran.isError).toBeFalsy();
      expect(JSON.stringify(ran.structuredContent)).toContain('12');
    } finally {
      await client.close();
    }
  });

  it('declares each tool as a program imports it: TypeScript and Python', async () => {
    const ts = await kiln.request('GET', `/v1/tools/${ids.add}/definition?format=typescript`);
    expect(ts.body).toMatchObject({ format: 'typescript', module: 'kiln:tools' });
    expect(ts.body.declaration).toContain('export function add(input: { a: number; b: number; }): Promise<unknown>;');
    const py = await kiln.request('GET', `/v1/tools/${ids.add}/definition?format=python`);
    expect(py.body.declaration).toContain('class AddInput(TypedDict):\n    a: float\n    b: float');
    expect(py.body.declaration).toContain('def add(input: AddInput | None = None, /, **fields: Any) -> Any:');
  });

  it('a session call takes tools for itself: Python and JavaScript; a later call without them has none', { timeout: 90_000 }, async () => {
    const py = (await kiln.post('/v1/sessions', { language: 'python' })).body as { id: string };
    const first = await kiln.post(`/v1/sessions/${py.id}/execute`, {
      code: 'from kiln_tools import add\ntotal = sum(add(a=i, b=1)["sum"] for i in range(3))\ntotal',
      tools: ['add'],
    });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.results[0]['text/plain']).toBe('6');
    expect(first.body.children).toHaveLength(3);
    const child = await kiln.request('GET', `/v1/executions/${first.body.children[0].id}`);
    expect(child.body.details.parent_id).toBe(first.body.id);
    // the state stays, the tools do not: the old function answers that its call has ended
    const later = await kiln.post(`/v1/sessions/${py.id}/execute`, {
      code: 'try:\n    add(a=1, b=1)\nexcept Exception as e:\n    print(type(e).__name__, e.error["type"])\ntotal',
    });
    expect(later.body.stdout).toBe('ToolError call_ended\n');
    expect(later.body.results[0]['text/plain']).toBe('6');
    const gone = await kiln.post(`/v1/sessions/${py.id}/execute`, { code: 'import kiln_tools' });
    expect(gone.body.error?.name).toBe('ModuleNotFoundError');
    await kiln.request('DELETE', `/v1/sessions/${py.id}`);

    const js = (await kiln.post('/v1/sessions', { language: 'javascript' })).body as { id: string };
    for (const b of [2, 5]) {
      const ran = await kiln.post(`/v1/sessions/${js.id}/execute`, {
        code: `(await (await import('kiln:tools')).add({ a: 2, b: ${b} })).sum`,
        tools: ['add'],
      });
      expect(ran.body.error, JSON.stringify(ran.body)).toBeNull();
      expect(ran.body.results[0]['text/plain']).toBe(String(2 + b));
    }
    await kiln.request('DELETE', `/v1/sessions/${js.id}`);
  });

  it('kiln answers whatever a box sends to kiln-tools, and goes on serving', { timeout: 60_000 }, async () => {
    const res = await run(
      [
        'import socket',
        'def send(raw, connect=False):',
        '    s = socket.create_connection(("127.0.0.1", 3128), timeout=10)',
        '    if connect:',
        '        s.sendall(b"CONNECT kiln-tools:80 HTTP/1.1\\r\\nHost: kiln-tools:80\\r\\n\\r\\n")',
        '        s.recv(4096)',
        '    s.sendall(raw)',
        '    out = b""',
        '    while True:',
        '        chunk = s.recv(65536)',
        '        if not chunk: break',
        '        out += chunk',
        '        if b"\\r\\n\\r\\n" in out and (b"content-length: 0" in out.lower() or out.endswith(b"}")): break',
        '    s.close()',
        '    return out.split(b"\\r\\n")[0].decode()',
        'def execute(input):',
        '    return [',
        '        send(b"POST http://a:b:c/call/x HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n", connect=True),',
        '        send(b"GET http://kiln-tools/call/x HTTP/1.1\\r\\nHost: kiln-tools\\r\\nConnection: close\\r\\n\\r\\n"),',
        '        send(b"POST http://kiln-tools/call/" + input.encode() + b" HTTP/1.1\\r\\nHost: kiln-tools\\r\\nContent-Length: 5\\r\\nConnection: close\\r\\n\\r\\n{nope"),',
        '        send(b"POST http://kiln-tools/c/exec_x/call/x HTTP/1.1\\r\\nHost: kiln-tools\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n"),',
        '    ]',
      ].join('\n'),
      ['add'],
      { input: ids.add },
    );
    expect(res.body.output_status, JSON.stringify(res.body)).toBe('valid');
    const statuses = (res.body.output as string[]).map((line) => Number(line.split(' ')[1]));
    for (const status of statuses) expect(status).toBeGreaterThanOrEqual(400);
    expect(statuses[2]).toBe(400); // the input is not JSON
    expect((await fetch(`${kiln.url}/healthz`)).status).toBe(200);
    expect((await run('def execute(input):\n    return 1', ['add'])).body.output).toBe(1);
  });

  it('an async execution with tools runs them when its turn comes; its log lists the children', { timeout: 60_000 }, async () => {
    const accepted = await kiln.post(
      '/v1/execute-function',
      {
        language: 'python',
        tools: ['add'],
        input: null,
        code: 'from kiln_tools import add\ndef execute(input):\n    return add(a=40, b=2)',
      },
      { prefer: 'respond-async' },
    );
    expect(accepted.status).toBe(202);
    const done = await untilExecution(kiln.url, accepted.body.id, (v) => v.status === 'finished');
    expect(done.details.response.output).toEqual({ sum: 42 });
    expect(done.details.response.execution.children).toMatchObject([{ tool: 'add', outcome: 'ok' }]);
  });
});
