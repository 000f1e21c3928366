// Details of Riza's wire format that clients rely on, through the real app with a fake runner.
import { describe, expect, it } from 'vitest';
import { buildTestApp, fakeResult, type ErrorBody } from '../../../helpers/app-fixture.js';

const fn = { language: 'python', code: 'def execute(input):\n    return input\n' };

describe('Riza compatibility', () => {
  it('accepts upper-case language names, as older clients send them', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute-function', { ...fn, language: 'PYTHON' });
    expect(res.status).toBe(200);
    expect(jobs[0]!.runtime.language).toBe('python');
  });

  it('takes a file without contents as an empty file', async () => {
    const { post, jobs } = await buildTestApp();
    await post('/v1/execute', { ...fn, files: [{ path: 'empty.txt' }] });
    expect(jobs[0]!.files).toEqual([{ path: 'empty.txt', contents: '' }]);
  });

  it('takes the deprecated allow_http_hosts as http.allow rules without credentials', async () => {
    const { post, jobs } = await buildTestApp();
    const res = await post('/v1/execute-function', { ...fn, allow_http_hosts: ['example.com', '*.example.org'] });
    expect(res.status).toBe(200);
    expect(jobs[0]!.allow).toEqual([{ host: 'example.com' }, { host: '*.example.org' }]);
  });

  it('passes the return value through byte for byte: integers past 2^53 stay exact', async () => {
    const { post, jobs } = await buildTestApp({
      runJob: async (job) => ({ ...fakeResult(job), outputJson: '{"big":12345678901234567890123}' }),
    });
    const text = await (await post('/v1/execute-function', fn)).text();
    expect(text.startsWith('{"output":{"big":12345678901234567890123},"output_status":"valid","execution":{')).toBe(true);
    expect(JSON.parse(text).execution.id).toBe(jobs[0]!.id);
  });

  it('answers a deeply nested return value without a 5xx', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const { post } = await buildTestApp({ runJob: async (job) => ({ ...fakeResult(job), outputJson: deep }) });
    const res = await post('/v1/execute-function', fn);
    expect(res.status).toBe(200);
    expect((await res.text()).length).toBeGreaterThan(200_000);
  });

  it('refuses input nested deeper than 900 levels with a 400 naming input', async () => {
    const { post, jobs } = await buildTestApp();
    const deep = '['.repeat(901) + ']'.repeat(901);
    const res = await post('/v1/execute-function', `{"language":"python","code":"x","input":${deep}}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.details?.[0]?.field).toBe('input');
    expect(body.message).toContain('900');
    expect(jobs).toHaveLength(0);
    const ok = await post('/v1/execute-function', `{"language":"python","code":"x","input":${'['.repeat(900) + ']'.repeat(900)}}`);
    expect(ok.status).toBe(200);
  });

  it('names the body when it is not JSON at all, on every endpoint that takes one', async () => {
    const { post } = await buildTestApp();
    for (const path of ['/v1/execute-function', '/v1/tools', '/v1/secrets']) {
      const res = await post(path, '{"language": python');
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).details).toEqual([{ field: '(body)', reason: 'malformed_json' }]);
    }
  });
});
