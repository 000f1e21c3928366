import { describe, expect, it } from 'vitest';
import { API_KEY, OTHER_KEY, buildTestApp } from '../../helpers/app-fixture.js';

const body = JSON.stringify({ language: 'python', code: 'def execute(input): return 1' });
const UNAUTHENTICATED = '{"code":16,"message":"unauthenticated"}';

const { app, jobs } = await buildTestApp();

describe('bearer auth on /v1', () => {
  const call = (headers: Record<string, string>) =>
    app.request('/v1/execute-function', { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });

  it.each([
    ['missing', {}],
    ['wrong key', { Authorization: 'Bearer not-the-right-key-at-all-000' }],
    ['key with extra characters', { Authorization: `Bearer ${API_KEY}x` }],
    ['prefix of the key', { Authorization: `Bearer ${API_KEY.slice(0, -1)}` }],
    ['Basic scheme', { Authorization: `Basic ${Buffer.from(`user:${API_KEY}`).toString('base64')}` }],
    ['bare key without scheme', { Authorization: API_KEY }],
    ['Bearer without a token', { Authorization: 'Bearer' }],
    ['Bearer and spaces only', { Authorization: 'Bearer    ' }],
    ['empty header', { Authorization: '' }],
  ])('answers 401 with exactly the Riza body when the key is %s', async (_name, headers) => {
    const before = jobs.length;
    const res = await call(headers);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe(UNAUTHENTICATED);
    expect(jobs.length).toBe(before);
  });

  it('accepts the configured key', async () => {
    const res = await call({ Authorization: `Bearer ${API_KEY}` });
    expect(res.status).toBe(200);
  });

  it('accepts any of several configured keys', async () => {
    const res = await call({ Authorization: `Bearer ${OTHER_KEY}` });
    expect(res.status).toBe(200);
  });

  it('accepts the scheme in any case', async () => {
    const res = await call({ Authorization: `bearer ${API_KEY}` });
    expect(res.status).toBe(200);
  });

  it('checks the key before the body: an invalid or oversized body without a key is 401', async () => {
    const bad = await app.request('/v1/execute', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' });
    expect(bad.status).toBe(401);
    const noType = await app.request('/v1/execute', { method: 'POST', body });
    expect(noType.status).toBe(401);
  });

  it('protects every /v1 route, even unknown ones', async () => {
    const res = await app.request('/v1/tools');
    expect(res.status).toBe(401);
  });

  it('leaves health endpoints open', async () => {
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
    expect((await app.request('/metrics')).status).toBe(200);
  });
});
