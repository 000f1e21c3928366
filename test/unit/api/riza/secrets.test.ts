import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Job, RunResult } from '../../../../src/sandbox/job.js';
import { buildTestApp, fakeResult, type ErrorBody } from '../../../helpers/app-fixture.js';

const VALUE = 'sk-live-7f3a9c1e5b2d4f60';
const ROTATED = 'sk-live-rotated-0b1c2d3e4f';
const fn = { name: 'caller', language: 'python', code: 'def execute(input):\n    return input\n' };

type App = Awaited<ReturnType<typeof buildTestApp>>;
const fields = (body: ErrorBody) => (body.details ?? []).map((d) => d.field);

async function createSecret(app: App, name = 'STRIPE', value = VALUE): Promise<{ id: string; name: string }> {
  const res = await app.request('POST', '/v1/secrets', { name, value });
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string; name: string };
}

async function createTool(app: App, extra: object): Promise<{ id: string }> {
  const res = await app.request('POST', '/v1/tools', { ...fn, ...extra });
  expect(res.status).toBe(200);
  return (await res.json()) as { id: string };
}

/** A runner that prints its env and returns it: what code that leaks its secrets would do. */
const echoEnv = async (job: Job): Promise<RunResult> => ({
  ...fakeResult(job),
  stdout: `env=${JSON.stringify(job.env)} token=${job.allow[0]?.auth?.bearer?.token ?? ''}`,
  stderr: `debug ${Object.values(job.env).join(',')}`,
  outputJson: JSON.stringify({ env: job.env }),
});

describe('POST /v1/secrets and GET /v1/secrets', () => {
  it('answers exactly {id, name}', async () => {
    const app = await buildTestApp();
    const res = await app.request('POST', '/v1/secrets', { name: 'STRIPE', value: VALUE });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ id: expect.stringMatching(/^secret_[0-9a-f]{24}$/), name: 'STRIPE' });
    expect(text).not.toContain(VALUE);
  });

  it('lists {secrets: [{id, name}]} newest first, never with a value', async () => {
    const app = await buildTestApp();
    const a = await createSecret(app, 'A', VALUE);
    const b = await createSecret(app, 'B', ROTATED);
    const res = await app.request('GET', '/v1/secrets');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ secrets: [b, a] });
    expect(text).not.toContain(VALUE);
    expect(text).not.toContain(ROTATED);
    const page = (await (await app.request('GET', `/v1/secrets?limit=1&starting_after=${b.id}`)).json()) as { secrets: unknown[] };
    expect(page.secrets).toEqual([a]);
  });

  it.each([
    [{ name: 'X' }, 'value'],
    [{ name: 'X', value: '' }, 'value'],
    [{ name: '', value: 'v' }, 'name'],
    [{ name: 'X', value: 'v'.repeat(64 * 1024 + 1) }, 'value'],
  ])('rejects %j naming %s', async (body, field) => {
    const app = await buildTestApp();
    const res = await app.request('POST', '/v1/secrets', body);
    expect(res.status).toBe(400);
    expect(fields((await res.json()) as ErrorBody)).toEqual([field]);
  });
});

describe('rotation and deletion', () => {
  it('a tool bound to a secret runs with the new value after a rotation', async () => {
    const app = await buildTestApp();
    const secret = await createSecret(app);
    const tool = await createTool(app, { env: [{ name: 'TOKEN', secret_id: secret.id }] });
    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, {})).status).toBe(200);

    const rotated = await app.request('POST', `/v1/secrets/${secret.id}`, { value: ROTATED });
    expect(rotated.status).toBe(200);
    const text = await rotated.text();
    expect(JSON.parse(text)).toEqual(secret);
    expect(text).not.toContain(ROTATED);

    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, {})).status).toBe(200);
    expect(app.jobs.map((j) => j.env.TOKEN)).toEqual([VALUE, ROTATED]);
  });

  it('DELETE removes the secret; a tool still bound to it is a 400 naming the binding', async () => {
    const app = await buildTestApp();
    const secret = await createSecret(app);
    const tool = await createTool(app, { env: [{ name: 'TOKEN', secret_id: secret.id }] });
    const res = await app.request('DELETE', `/v1/secrets/${secret.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: secret.id, deleted: true });
    expect(await (await app.request('GET', '/v1/secrets')).json()).toEqual({ secrets: [] });
    expect((await app.request('DELETE', `/v1/secrets/${secret.id}`)).status).toBe(404);
    expect((await app.request('POST', `/v1/secrets/${secret.id}`, { value: ROTATED })).status).toBe(404);

    const run = await app.request('POST', `/v1/tools/${tool.id}/execute`, {});
    expect(run.status).toBe(400);
    expect(fields((await run.json()) as ErrorBody)).toEqual(['tool.env.0.secret_id']);
    expect(app.jobs).toHaveLength(0);
  });
});

describe('bound secrets', () => {
  it('reach the job as env values and egress credentials, while the tool shows only secret_id', async () => {
    const app = await buildTestApp();
    const env = await createSecret(app, 'ENV', VALUE);
    const cred = await createSecret(app, 'CRED', ROTATED);
    const allow = [{ host: 'api.example.com', auth: { bearer: { secret_id: cred.id } } }];
    const tool = await createTool(app, {
      env: [
        { name: 'TOKEN', secret_id: env.id },
        { name: 'PLAIN', value: 'p' },
      ],
      http: { allow },
    });

    const got = await app.request('GET', `/v1/tools/${tool.id}`);
    const text = await got.text();
    expect(JSON.parse(text)).toMatchObject({
      env: [
        { name: 'TOKEN', secret_id: env.id },
        { name: 'PLAIN', value: 'p' },
      ],
      http: { allow },
    });
    expect(text).not.toContain(VALUE);
    expect(text).not.toContain(ROTATED);

    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, {})).status).toBe(200);
    expect(app.jobs[0]!.env).toEqual({ TOKEN: VALUE, PLAIN: 'p' });
    expect(app.jobs[0]!.allow).toEqual([{ host: 'api.example.com', auth: { bearer: { token: ROTATED } } }]);
  });

  it('a caller may bind its own secrets at execution time', async () => {
    const app = await buildTestApp();
    const secret = await createSecret(app);
    const tool = await createTool(app, {});
    const res = await app.request('POST', `/v1/tools/${tool.id}/execute`, {
      env: [{ name: 'MINE', secret_id: secret.id }],
      http: { allow: [{ host: 'x.example.com', auth: { header: { name: 'X-Key', secret_id: secret.id } } }] },
    });
    expect(res.status).toBe(200);
    expect(app.jobs[0]!.env).toEqual({ MINE: VALUE });
    expect(app.jobs[0]!.allow).toEqual([{ host: 'x.example.com', auth: { header: { name: 'X-Key', value: VALUE } } }]);
  });
});

describe('redaction', () => {
  it('a printed or returned secret comes back as [redacted secret], in the answer and in the log', async () => {
    const app = await buildTestApp({ runJob: echoEnv });
    const env = await createSecret(app, 'ENV', VALUE);
    const cred = await createSecret(app, 'CRED', ROTATED);
    const tool = await createTool(app, {
      env: [{ name: 'TOKEN', secret_id: env.id }],
      http: { allow: [{ host: 'api.example.com', auth: { bearer: { secret_id: cred.id } } }] },
    });
    const res = await app.request('POST', `/v1/tools/${tool.id}/execute`, {});
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(VALUE);
    expect(text).not.toContain(ROTATED);
    const body = JSON.parse(text) as {
      output: { env: Record<string, string> };
      output_status: string;
      execution: { id: string; stdout: string; stderr: string };
    };
    expect(body.output).toEqual({ env: { TOKEN: '[redacted secret]' } });
    expect(body.output_status).toBe('valid');
    expect(body.execution.stdout).toBe('env={"TOKEN":"[redacted secret]"} token=[redacted secret]');
    expect(body.execution.stderr).toBe('debug [redacted secret]');

    const logged = await app.request('GET', `/v1/executions/${body.execution.id}`);
    expect(logged.status).toBe(200);
    const loggedText = await logged.text();
    expect(loggedText).not.toContain(VALUE);
    expect(loggedText).not.toContain(ROTATED);
    const record = JSON.parse(loggedText) as { details: { response: { output: unknown; execution: { stdout: string } } } };
    expect(record.details.response.output).toEqual({ env: { TOKEN: '[redacted secret]' } });
    expect(record.details.response.execution.stdout).toBe(body.execution.stdout);
  });

  it("a non-ASCII secret returned as Python's json.dumps writes it (\\u escapes) is redacted too", async () => {
    const accented = 'cl\u00e9-secr\u00e8te-\u{1F511}';
    // json.dumps(value) with its default ensure_ascii=True: every non-ASCII character as \uXXXX
    const pythonJson = (v: unknown) =>
      JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const app = await buildTestApp({ runJob: async (job) => ({ ...fakeResult(job), outputJson: pythonJson({ env: job.env }) }) });
    const secret = await createSecret(app, 'ACCENTED', accented);
    const tool = await createTool(app, { env: [{ name: 'TOKEN', secret_id: secret.id }] });
    const res = await app.request('POST', `/v1/tools/${tool.id}/execute`, {});
    expect(res.status).toBe(200);
    const body = (await res.json()) as { output: unknown; output_status: string; execution: { id: string } };
    expect(app.jobs[0]!.env.TOKEN).toBe(accented);
    expect(body.output).toEqual({ env: { TOKEN: '[redacted secret]' } });
    const logged = (await (await app.request('GET', `/v1/executions/${body.execution.id}`)).json()) as {
      details: { response: { output: unknown } };
    };
    expect(logged.details.response.output).toEqual({ env: { TOKEN: '[redacted secret]' } });
  });

  it('no clear value reaches the database file or its WAL', async () => {
    const app = await buildTestApp({ runJob: echoEnv });
    const secret = await createSecret(app, 'DISK_CHECK_NAME', VALUE);
    const tool = await createTool(app, { env: [{ name: 'TOKEN', secret_id: secret.id }] });
    await app.request('POST', `/v1/tools/${tool.id}/execute`, {});
    await app.request('POST', `/v1/secrets/${secret.id}`, { value: ROTATED });
    await app.request('POST', `/v1/tools/${tool.id}/execute`, { env: [{ name: 'AGAIN', secret_id: secret.id }] });
    expect(app.jobs.map((j) => j.env.TOKEN)).toEqual([VALUE, ROTATED]);

    const files = [app.dbFile, `${app.dbFile}-wal`].filter(existsSync);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    expect(bytes.includes('DISK_CHECK_NAME')).toBe(true); // the right file: the secret's row is in it
    expect(bytes.includes(VALUE)).toBe(false);
    expect(bytes.includes(ROTATED)).toBe(false);
    expect(bytes.includes(Buffer.from(VALUE, 'utf16le'))).toBe(false);
  });
});

describe('review fixes', () => {
  it('redacts a secret printed as JSON writes it (quotes and non-ASCII escaped)', async () => {
    const quoted = 'pa"ss\\wörd-123';
    const app = await buildTestApp({
      runJob: async (job) => ({
        ...fakeResult(job),
        stdout: JSON.stringify(job.env),
        stderr: JSON.stringify(job.env).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
      }),
    });
    const secret = await createSecret(app, 'Q', quoted);
    const tool = await createTool(app, { env: [{ name: 'Q', secret_id: secret.id }] });
    const body = (await (await app.request('POST', `/v1/tools/${tool.id}/execute`, {})).json()) as {
      execution: { stdout: string; stderr: string };
    };
    expect(body.execution.stdout).toBe('{"Q":"[redacted secret]"}');
    expect(body.execution.stderr).toBe('{"Q":"[redacted secret]"}');
  });

  it('refuses a secret whose value cannot go where it is bound, naming the binding', async () => {
    const app = await buildTestApp();
    const crlf = await createSecret(app, 'CRLF', 'tok\r\nX-Evil: 1');
    const nul = await createSecret(app, 'NUL', 'abc\u0000def');
    const asHeader = await app.request('POST', '/v1/execute-function', { ...fn, code: 'x' }); // a plain run still works
    expect(asHeader.status).toBe(200);
    const tool = await createTool(app, {});
    const header = await app.request('POST', `/v1/tools/${tool.id}/execute`, {
      http: { allow: [{ host: 'api.example.com', auth: { bearer: { secret_id: crlf.id } } }] },
    });
    expect(header.status).toBe(400);
    expect(fields((await header.json()) as ErrorBody)).toEqual(['http.allow.0.auth.bearer.secret_id']);
    const env = await app.request('POST', `/v1/tools/${tool.id}/execute`, { env: [{ name: 'N', secret_id: nul.id }] });
    expect(env.status).toBe(400);
    expect(fields((await env.json()) as ErrorBody)).toEqual(['env.0.secret_id']);
    // the same CR LF value is fine in env, and NUL is fine nowhere it would be cut
    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, { env: [{ name: 'C', secret_id: crlf.id }] })).status).toBe(200);
  });
});
