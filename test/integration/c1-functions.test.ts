// ConductorOne's Functions API against kiln and the Docker engine: a TypeScript main.ts that imports
// C1's SDK for its types and reads a file of its commit, through the whole create → commit → upload
// → finalize → publish → invoke → poll flow; an exception ends in ERROR with its message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';

let kiln: TestKiln;
beforeAll(async () => {
  kiln = await startTestKiln();
});
afterAll(async () => {
  await kiln?.close();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const MAIN = [
  'import { JSONObject } from "@c1/functions-sdk";',
  'import { readFileSync } from "node:fs";',
  'export default async function main(input: JSONObject): Promise<JSONObject> {',
  '  const greeting: string = JSON.parse(readFileSync("greeting.json", "utf8")).greeting;',
  '  if (input.fail) throw new Error(`refusing ${input.name}`);',
  '  return { message: `${greeting}, ${input.name}` };',
  '}',
].join('\n');

async function poll(fid: string, id: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const { body } = await kiln.request('GET', `/api/v1/functions/${fid}/invocations/${id}`);
    if (!/PENDING|RUNNING/.test(body.invocation.status)) return body.invocation;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('invocation did not end');
}

describe('ConductorOne functions on the real engine', () => {
  it('runs the full flow to SUCCESS, and an exception to ERROR with its message', async () => {
    const created = await kiln.post('/api/v1/functions', {
      displayName: 'greeter',
      functionType: 'FUNCTION_TYPE_ANY',
      commitMessage: 'init',
      initialContent: { 'main.ts': b64('export default async function main() { return {}; }') },
    });
    expect(created.status).toBe(200);
    const fid = created.body.function.id;
    const commit = await kiln.post(`/api/v1/functions/${fid}/commits`, { commitMessage: 'greet', filenames: ['main.ts', 'greeting.json'] });
    for (const [name, contents] of [
      ['main.ts', MAIN],
      ['greeting.json', '{"greeting":"Hello"}'],
    ] as const) {
      const put = await fetch(commit.body.uploadUrls[name], { method: 'PUT', body: contents });
      expect(put.status).toBe(204);
    }
    const finalized = await kiln.post(`/api/v1/functions/${fid}/commits/${commit.body.commitId}/finalize`, {});
    expect(finalized.body.commit.id).toBe(commit.body.commitId);
    const published = await kiln.post('/api/v1/functions/update', {
      function: { id: fid, publishedCommitId: commit.body.commitId },
      updateMask: 'publishedCommitId',
    });
    expect(published.body.function.publishedCommitId).toBe(commit.body.commitId);

    const ok = await kiln.post(`/api/v1/functions/${fid}/invoke`, { json: b64(JSON.stringify({ name: 'Ada' })) });
    expect(ok.status).toBe(200);
    const success = await poll(fid, ok.body.invocationId);
    expect(success).toMatchObject({
      status: 'FUNCTION_INVOCATION_STATUS_SUCCESS',
      input: { name: 'Ada' },
      output: { message: 'Hello, Ada' },
      commitId: commit.body.commitId,
    });
    // the log names the key that invoked it (KILN_API_KEYS' keys are `env`)
    expect((await kiln.request('GET', `/v1/executions/${ok.body.invocationId}`)).body.details).toMatchObject({
      via: 'c1',
      key: { name: 'env' },
    });

    const bad = await kiln.post(`/api/v1/functions/${fid}/invoke`, { json: b64(JSON.stringify({ name: 'Bob', fail: true })) });
    const error = await poll(fid, bad.body.invocationId);
    expect(error.status).toBe('FUNCTION_INVOCATION_STATUS_ERROR');
    expect(error.error).toContain('refusing Bob');

    const sdkUse = await kiln.post(`/api/v1/functions/${fid}/commits`, {
      commitMessage: 'sdk',
      content: {
        'main.ts': b64(
          'import { functions } from "@c1/functions-sdk";\nexport default async function main() { return functions.getConfig(); }',
        ),
      },
    });
    const viaSdk = await kiln.post(`/api/v1/functions/${fid}/invoke`, { commitId: sdkUse.body.commit.id, json: b64('{}') });
    const refused = await poll(fid, viaSdk.body.invocationId);
    expect(refused.status).toBe('FUNCTION_INVOCATION_STATUS_ERROR');
    expect(refused.error).toContain('kiln does not provide it');
  });
});
