// MCP tasks (issue 24) with the MCP SDK's own client, on kiln's durable invocations: a tools/call
// made a task answers at once with its task, is polled to its result, appears in /v1/executions,
// can be cancelled midway, and outlives a SIGKILL of the kiln that accepted it (under the crash
// rule: a run cut by the crash ends failed, saying so; tasks/get says which).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE, TEST_KEY, TEST_OCI_RUNTIME } from '../helpers/kiln.js';
import { type KilnProcess, spawnKiln } from '../helpers/kiln-process.js';

let kiln: KilnProcess;
let env: Record<string, string>;

async function connect(): Promise<Client> {
  const client = new Client({ name: 'kiln-tasks', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TEST_KEY}` } } }),
  );
  return client;
}
/** Starts `code` as a task; its id. */
async function startTask(client: Client, code: string): Promise<string> {
  const created = await client.request(
    { method: 'tools/call', params: { name: 'execute_python', arguments: { code, timeout_seconds: 60 }, task: { ttl: 600_000 } } },
    CreateTaskResultSchema,
  );
  expect(created.task.status).toBe('working');
  return created.task.taskId;
}

beforeAll(async () => {
  env = {
    KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-mcp-tasks-')),
    KILN_INSTANCE: `${TEST_INSTANCE}-tasks`,
    KILN_OCI_RUNTIME: TEST_OCI_RUNTIME,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
  };
  kiln = await spawnKiln(env);
}, 60_000);
afterAll(async () => {
  await kiln?.stop();
});

describe('MCP tasks', () => {
  it('runs a tool call as a task, polled by the client to its result, and logs it as an execution', { timeout: 60_000 }, async () => {
    const client = await connect();
    try {
      const tools = await client.listTools();
      expect(tools.tools.find((t) => t.name === 'execute_python')?.execution?.taskSupport).toBe('optional');
      const kinds: string[] = [];
      let result: unknown;
      for await (const message of client.experimental.tasks.callToolStream(
        { name: 'execute_python', arguments: { code: 'import time\ntime.sleep(1.5)\nprint("task done")' } },
        CallToolResultSchema,
        { task: { ttl: 600_000 } },
      )) {
        kinds.push(message.type);
        if (message.type === 'result') result = message.result;
        if (message.type === 'error') throw message.error;
      }
      expect(kinds[0]).toBe('taskCreated');
      expect(kinds.at(-1)).toBe('result');
      expect(JSON.stringify(result)).toContain('task done');
      const listed = await client.experimental.tasks.listTasks();
      const task = listed.tasks[0]!;
      expect(task.status).toBe('completed');
      const logged = await call(kiln.url, 'GET', `/v1/executions/${task.taskId}`);
      expect(logged.body).toMatchObject({ id: task.taskId, status: 'finished', details: { via: 'mcp' } });
    } finally {
      await client.close();
    }
  });

  it('cancels a task midway; a search or a session call cannot be a task', { timeout: 60_000 }, async () => {
    const client = await connect();
    try {
      const id = await startTask(client, 'import time\nprint("started", flush=True)\ntime.sleep(30)');
      for (let i = 0; i < 40 && (await call(kiln.url, 'GET', `/v1/executions/${id}`)).body.status !== 'running'; i++)
        await new Promise((r) => setTimeout(r, 250));
      const cancelled = await client.experimental.tasks.cancelTask(id);
      expect(cancelled.status).toBe('cancelled');
      let status = '';
      for (let i = 0; i < 40 && status !== 'cancelled'; i++) {
        status = (await client.experimental.tasks.getTask(id)).status;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe('cancelled');
      await expect(
        client.request(
          { method: 'tools/call', params: { name: 'search_tools', arguments: { query: 'x' }, task: { ttl: 60_000 } } },
          CreateTaskResultSchema,
        ),
      ).rejects.toThrow(/task/);
    } finally {
      await client.close();
    }
  });

  it('outlives a SIGKILL of the kiln that accepted it: tasks/get says how it ended', { timeout: 120_000 }, async () => {
    let client = await connect();
    const id = await startTask(client, 'import time\nprint("running", flush=True)\ntime.sleep(40)');
    for (let i = 0; i < 40 && (await call(kiln.url, 'GET', `/v1/executions/${id}`)).body.status !== 'running'; i++)
      await new Promise((r) => setTimeout(r, 250));
    await client.close().catch(() => {});
    await kiln.kill();
    kiln = await spawnKiln(env);
    client = await connect();
    try {
      let task = await client.experimental.tasks.getTask(id);
      for (let i = 0; i < 40 && task.status === 'working'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        task = await client.experimental.tasks.getTask(id);
      }
      // at most once: the run the crash cut is not run again
      expect(task).toMatchObject({ taskId: id, status: 'failed', statusMessage: expect.stringContaining('at most once') });
    } finally {
      await client.close();
    }
  });
});
