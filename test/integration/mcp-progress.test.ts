// MCP progress (issue 24) with the MCP SDK's own client: a tools/call that carries a progress token
// is answered over SSE with notifications/progress while the code runs — on output, and every few
// seconds without any — so a client whose request timeout (the SDK's default 60 s) resets on
// progress waits out a 90-second run. The same call without a token answers JSON, as before.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
let client: Client;

beforeAll(async () => {
  kiln = await startTestKiln({ KILN_POOL_PYTHON: '1', KILN_POOL_JAVASCRIPT: '0', KILN_POOL_TYPESCRIPT: '0' });
  client = new Client({ name: 'kiln-progress', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TEST_KEY}` } } }),
  );
}, 60_000);
afterAll(async () => {
  await client?.close();
  await kiln?.close();
});

const text = (result: unknown) => ((result as { content: { type: string; text?: string }[] }).content[0]?.text ?? '') as string;

describe('MCP progress', () => {
  it("keeps the SDK client's 60 s request timeout, reset on progress, waiting through a silent 90 s run, then answers it", {
    timeout: 150_000,
  }, async () => {
    const progress: Progress[] = [];
    const began = Date.now();
    const result = await client.callTool(
      { name: 'execute_python', arguments: { code: 'import time\ntime.sleep(90)\nprint("done after 90 s")', timeout_seconds: 120 } },
      undefined,
      // the SDK's default request timeout (60 s), which the client resets on each progress notification
      { onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true },
    );
    expect(Date.now() - began).toBeGreaterThanOrEqual(90_000);
    expect(result.isError).toBeFalsy();
    expect(text(result)).toContain('done after 90 s');
    // heartbeats while nothing was printed (every 5 s), each larger than the one before
    expect(progress.length).toBeGreaterThanOrEqual(10);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
    expect(progress[0]!.message).toMatch(/^running \d+\.\d s/);
  });

  it("reports output as it comes (a saved tool's too), its secrets taken out", { timeout: 60_000 }, async () => {
    const value = `sk_${randomBytes(16).toString('hex')}`;
    const secret = await kiln.request('POST', '/v1/secrets', { name: `mcp-progress-${randomBytes(3).toString('hex')}`, value });
    const name = `ticker_${randomBytes(3).toString('hex')}`;
    await kiln.request('POST', '/v1/tools', {
      name,
      language: 'python',
      code: 'import os, time\ndef execute(input):\n    for i in range(3):\n        print("tick", i, os.environ["KEY"], flush=True)\n        time.sleep(0.7)\n    return {"ticks": 3}',
      env: [{ name: 'KEY', secret_id: secret.body.id }],
    });
    const progress: Progress[] = [];
    const result = await client.callTool({ name, arguments: {} }, undefined, { onprogress: (p) => progress.push(p) });
    expect(result.structuredContent).toMatchObject({ output: { ticks: 3 }, exit_code: 0 });
    const said = progress.map((p) => p.message ?? '').join('\n');
    expect(said).toMatch(/tick 0/);
    expect(said).toContain('[redacted secret]');
    expect(said).not.toContain(value);
  });

  it('answers a call without a progress token as JSON, as before', { timeout: 30_000 }, async () => {
    const res = await fetch(`${kiln.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'execute_python', arguments: { code: 'print(1)' } },
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { result: unknown }).result).toBeDefined();
  });
});
