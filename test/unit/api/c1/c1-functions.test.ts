// ConductorOne's Functions API over the real app and store, with a fake runner (the real engine
// runs the same flow in test/integration/c1-functions.test.ts).
import { describe, expect, it } from 'vitest';
import type { RunJob } from '../../../../src/sandbox/job.js';
import { buildTestApp, fakeResult, PROJECT_B_KEY, type ErrorBody } from '../../../helpers/app-fixture.js';

type App = Awaited<ReturnType<typeof buildTestApp>>;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const MAIN = 'export default async function main(input: { name: string }) { return { hello: input.name }; }';

async function send(app: App, method: string, path: string, body?: unknown, key?: string) {
  const res = await app.request(method, path, body, key);
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: text ? JSON.parse(text) : null };
}

async function until(app: App, fid: string, id: string, done: (inv: any) => boolean) {
  for (let i = 0; i < 500; i++) {
    const { body } = await send(app, 'GET', `/api/v1/functions/${fid}/invocations/${id}`);
    if (done(body.invocation)) return body.invocation;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

describe('ConductorOne Functions API', () => {
  it('create → commit → upload → finalize → publish → invoke → SUCCESS, on C1 wire shapes', async () => {
    const app = await buildTestApp();
    const created = await send(app, 'POST', '/api/v1/functions', {
      displayName: 'greet',
      description: 'says hi',
      functionType: 'FUNCTION_TYPE_ANY',
      commitMessage: 'first',
      initialContent: { 'main.ts': b64(MAIN) },
    });
    expect(created.status).toBe(200);
    expect(created.type).toMatch(/^application\/json/);
    const fn = created.body.function;
    expect(fn).toMatchObject({
      displayName: 'greet',
      description: 'says hi',
      functionType: 'FUNCTION_TYPE_ANY',
      isDraft: true,
      head: created.body.commit.id,
    });
    expect(fn).not.toHaveProperty('publishedCommitId'); // unset fields are left out, never null
    expect(created.body.commit).toMatchObject({ functionId: fn.id, message: 'first' });

    const started = await send(app, 'POST', `/api/v1/functions/${fn.id}/commits`, {
      commitMessage: 'v2',
      filenames: ['main.ts', 'data/names.json'],
    });
    expect(Object.keys(started.body.uploadUrls).sort()).toEqual(['data/names.json', 'main.ts']);
    const v2 = MAIN.replace('hello', 'hi');
    for (const [name, contents] of [
      ['main.ts', v2],
      ['data/names.json', '["ada"]'],
    ] as const) {
      const url = new URL(started.body.uploadUrls[name]);
      const put = await app.app.request(url.pathname + url.search, { method: 'PUT', body: contents }); // no key: the URL is the credential
      expect(put.status, name).toBe(204);
    }
    const forged = new URL(started.body.uploadUrls['main.ts']);
    forged.searchParams.set('token', 'x'.repeat(43));
    expect((await app.app.request(forged.pathname + forged.search, { method: 'PUT', body: 'evil' })).status).toBe(401);
    const final = await send(app, 'POST', `/api/v1/functions/${fn.id}/commits/${started.body.commitId}/finalize`, {});
    expect(final.body.commit).toMatchObject({ id: started.body.commitId, functionId: fn.id, message: 'v2' });
    const content = await send(app, 'GET', `/api/v1/functions/${fn.id}/commits/HEAD`);
    expect(Buffer.from(content.body.files['main.ts'], 'base64').toString()).toBe(v2);
    expect(Buffer.from(content.body.files['data/names.json'], 'base64').toString()).toBe('["ada"]');
    expect((await send(app, 'GET', `/api/v1/functions/${fn.id}/commits`)).body.list.map((c: any) => c.message)).toEqual(['v2', 'first']);

    const unpublished = await send(app, 'POST', `/api/v1/functions/${fn.id}/invoke`, { json: b64('{"name":"ada"}') });
    expect(unpublished.status).toBe(400);
    expect(unpublished.body.details[0]).toMatchObject({ field: 'commitId', reason: 'not_published' });
    const published = await send(app, 'POST', '/api/v1/functions/update', {
      function: { id: fn.id, publishedCommitId: started.body.commitId },
      updateMask: 'publishedCommitId',
    });
    expect(published.body.function).toMatchObject({ publishedCommitId: started.body.commitId, isDraft: false });

    const invoked = await send(app, 'POST', `/api/v1/functions/${fn.id}/invoke`, { json: b64('{"name":"ada"}') });
    expect(Object.keys(invoked.body)).toEqual(['invocationId']);
    const inv = await until(app, fn.id, invoked.body.invocationId, (i) => i.status === 'FUNCTION_INVOCATION_STATUS_SUCCESS');
    expect(inv).toMatchObject({
      functionId: fn.id,
      commitId: started.body.commitId,
      input: { name: 'ada' },
      output: { echoed: { name: 'ada' } },
    });
    const job = app.jobs.at(-1)!;
    expect(job).toMatchObject({ mode: 'function', code: v2, entry: 'default', files: [{ path: 'data/names.json', contents: '["ada"]' }] });
    expect((await send(app, 'GET', `/api/v1/functions/${fn.id}/invocations`)).body.list.map((i: any) => i.id)).toEqual([
      invoked.body.invocationId,
    ]);
    // a function is a tool: visible through /v1 too, and its run is in the executions log as c1
    expect((await send(app, 'GET', `/v1/tools/${fn.id}`)).body).toMatchObject({ name: 'greet', language: 'typescript' });
    expect((await send(app, 'GET', `/v1/executions/${invoked.body.invocationId}`)).body.details).toMatchObject({
      type: 'tool',
      via: 'c1',
      tool_id: fn.id,
    });
  });

  it('an exception, or a return value that is not an object, is ERROR with the message', async () => {
    const outcomes = [
      { exitCode: 1, outputStatus: 'error' as const, outputJson: null, stderr: 'Error: no such user\n    at main (main.ts:1:1)' },
      { outputJson: '[1,2]' },
    ];
    let i = 0;
    const runJob: RunJob = async (job) => ({ ...fakeResult(job), ...outcomes[i++] });
    const app = await buildTestApp({ runJob });
    const fn = (await send(app, 'POST', '/api/v1/functions', { displayName: 'f', initialContent: { 'main.ts': b64(MAIN) } })).body;
    for (const expected of [/no such user/, /must return a JSON object/]) {
      const { body } = await send(app, 'POST', `/api/v1/functions/${fn.function.id}/invoke`, { commitId: fn.commit.id, json: b64('{}') });
      const inv = await until(
        app,
        fn.function.id,
        body.invocationId,
        (x) => x.status !== 'FUNCTION_INVOCATION_STATUS_PENDING' && x.status !== 'FUNCTION_INVOCATION_STATUS_RUNNING',
      );
      expect(inv.status).toBe('FUNCTION_INVOCATION_STATUS_ERROR');
      expect(inv.error).toMatch(expected);
      expect(inv).not.toHaveProperty('output');
    }
  });

  it('bad input is a 4xx naming the field; another project sees nothing', async () => {
    const app = await buildTestApp();
    const fn = (await send(app, 'POST', '/api/v1/functions', { displayName: 'f', initialContent: { 'main.ts': b64(MAIN) } })).body;
    const id = fn.function.id;
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/v1/functions', { displayName: 'x', initialContent: { 'main.ts': '***' } }, 'initialContent.main.ts'],
      ['POST', '/api/v1/functions', { displayName: 'x', initialContent: { 'other.ts': b64('x') } }, 'initialContent.main.ts'],
      [
        'POST',
        '/api/v1/functions',
        { displayName: 'x', initialContent: { '../main.ts': b64('x'), 'main.ts': b64('x') } },
        'initialContent.../main.ts',
      ],
      ['POST', `/api/v1/functions/${id}/invoke`, { commitId: fn.commit.id, json: '%%%' }, 'json'],
      ['POST', `/api/v1/functions/${id}/invoke`, { commitId: fn.commit.id, json: b64('[1]') }, 'json'],
      ['POST', `/api/v1/functions/${id}/invoke`, { commitId: fn.commit.id, json: b64('{nope') }, 'json'],
      ['POST', `/api/v1/functions/${id}/invoke`, { commitId: 'rev_000000000000000000000000', json: b64('{}') }, 'commitId'],
      ['POST', `/api/v1/functions/${id}/invoke`, { commitId: fn.commit.id, vfsId: 'v1' }, 'vfsId'],
      ['POST', `/api/v1/functions/${id}/commits`, { filenames: ['helper.ts'] }, 'filenames'],
      [
        'POST',
        '/api/v1/functions/update',
        { function: { id, publishedCommitId: 'rev_000000000000000000000000' }, updateMask: 'publishedCommitId' },
        'function.publishedCommitId',
      ],
      ['POST', '/api/v1/functions/update', { function: { id }, updateMask: 'secret' }, 'updateMask'],
      ['POST', '/api/v1/functions/tool_000000000000000000000000/invoke', { json: b64('{}') }, 'function_id'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await send(app, method, path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(
        (res.body as ErrorBody).details?.map((d) => d.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    const pending = await send(app, 'POST', `/api/v1/functions/${id}/commits`, { filenames: ['main.ts'] });
    const early = await send(app, 'POST', `/api/v1/functions/${id}/commits/${pending.body.commitId}/finalize`, {});
    expect(early.body.details[0]).toMatchObject({ field: 'commit_id', reason: 'uploads_missing' });

    for (const [method, path] of [
      ['GET', `/api/v1/functions/${id}`],
      ['DELETE', `/api/v1/functions/${id}`],
      ['GET', `/api/v1/functions/${id}/commits`],
      ['POST', `/api/v1/functions/${id}/invoke`],
    ] as const)
      expect((await send(app, method, path, method === 'POST' ? { json: b64('{}') } : undefined, PROJECT_B_KEY)).status, path).toBe(404);
    expect((await send(app, 'GET', '/api/v1/functions', undefined, PROJECT_B_KEY)).body.list).toEqual([]);
    expect((await send(app, 'DELETE', `/api/v1/functions/${id}`)).body).toEqual({});
    expect((await send(app, 'GET', `/api/v1/functions/${id}`)).status).toBe(404);
  });
});
