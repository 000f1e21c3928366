// Saved tools through the real engine: revisions, input schemas, and bindings whose credentials the
// caller never sees (an HTTPS upstream on 127.0.0.1 checks the injected header).
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, type TestKiln } from '../helpers/kiln.js';
import { startAuthUpstream, type AuthUpstream } from '../helpers/upstream.js';

const HOST = 'billing.test.internal';
const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
let upstream: AuthUpstream;
let port: number;
let kiln: TestKiln;

beforeAll(async () => {
  upstream = await startAuthUpstream(HOST, TOKEN);
  port = upstream.port;
  kiln = await startTestKiln(upstream.env);
});
afterAll(async () => {
  await kiln?.close();
  upstream?.close();
});

const executions = async () => (await kiln.request('GET', '/v1/executions')).body.data as { id: string }[];

describe('tools on the real engine', () => {
  it('runs the latest revision by default and any pinned revision as it was', async () => {
    const v1 = await kiln.post('/v1/tools', {
      name: 'greet',
      language: 'python',
      code: 'def execute(input):\n    return "v1 " + input["name"]',
    });
    expect(v1.status).toBe(200);
    const v2 = await kiln.post(`/v1/tools/${v1.body.id}`, {
      language: 'javascript',
      code: 'function execute(input) { return `v2 ${input.name}`; }',
    });
    expect(v2.body.revision_id).not.toBe(v1.body.revision_id);
    const latest = await kiln.post(`/v1/tools/${v1.body.id}/execute`, { input: { name: 'ada' } });
    expect(latest.body).toMatchObject({ output: 'v2 ada', output_status: 'valid' });
    const pinned = await kiln.post(`/v1/tools/${v1.body.id}/execute`, { input: { name: 'ada' }, revision_id: v1.body.revision_id });
    expect(pinned.body).toMatchObject({ output: 'v1 ada', output_status: 'valid' });
    const logged = await kiln.request('GET', `/v1/executions/${pinned.body.execution.id}`);
    expect(logged.body).toMatchObject({
      language: 'python',
      details: { type: 'tool', tool_id: v1.body.id, request: { revision_id: v1.body.revision_id } },
    });
  });

  it('refuses input that breaks the schema before any container is used', async () => {
    const tool = await kiln.post('/v1/tools', {
      name: 'square',
      language: 'python',
      code: 'def execute(input):\n    return input["n"] ** 2',
      input_schema: { type: 'object', properties: { n: { type: 'integer', maximum: 1000 } }, required: ['n'] },
    });
    const before = (await executions()).length;
    const bad = await kiln.post(`/v1/tools/${tool.body.id}/execute`, { input: { n: 'seven' } });
    expect(bad.status).toBe(400);
    expect(bad.body.details).toContainEqual(expect.objectContaining({ field: 'input.n', reason: 'type' }));
    expect((await executions()).length).toBe(before); // nothing ran, nothing was logged
    const good = await kiln.post(`/v1/tools/${tool.body.id}/execute`, { input: { n: 12 } });
    expect(good.body.output).toBe(144);
  });

  it('runs with a bound secret in env and as an egress credential; the caller reads neither back', async () => {
    const envSecret = `env-${randomBytes(12).toString('hex')}`;
    const s1 = await kiln.post('/v1/secrets', { name: 'billing-token', value: TOKEN });
    const s2 = await kiln.post('/v1/secrets', { name: 'signing-key', value: envSecret });
    const tool = await kiln.post('/v1/tools', {
      name: 'charge',
      language: 'python',
      code: [
        'import hashlib, json, os, urllib.request',
        'def execute(input):',
        `    r = json.load(urllib.request.urlopen("https://${HOST}:${port}/charge"))`,
        '    key = os.environ["SIGNING_KEY"]',
        '    print("key is", key)',
        '    return {"authorized": r["authorized"], "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "echo": key, "stage": os.environ["STAGE"]}',
      ].join('\n'),
      env: [
        { name: 'SIGNING_KEY', secret_id: s2.body.id },
        { name: 'STAGE', value: 'test' },
      ],
      http: { allow: [{ host: HOST, auth: { bearer: { secret_id: s1.body.id } } }] },
    });
    expect(tool.status).toBe(200);
    const read = await kiln.request('GET', `/v1/tools/${tool.body.id}`);
    expect(JSON.stringify(read.body)).not.toContain(TOKEN);
    expect(JSON.stringify(read.body)).not.toContain(envSecret);

    const res = await kiln.post(`/v1/tools/${tool.body.id}/execute`, { input: null });
    expect(res.body.output_status).toBe('valid');
    expect(res.body.output.authorized).toBe(true);
    expect(upstream.seen.at(-1)).toBe(`Bearer ${TOKEN}`);
    expect(res.body.output.key_sha256).toBe(createHash('sha256').update(envSecret).digest('hex'));
    expect(res.body.output.stage).toBe('test');
    // printed or returned as it is, the value is redacted on its way out
    expect(res.body.output.echo).toBe('[redacted secret]');
    expect(res.body.execution.stdout).toBe('key is [redacted secret]\n');
    const text = JSON.stringify(res.body) + JSON.stringify((await kiln.request('GET', `/v1/executions/${res.body.execution.id}`)).body);
    expect(text).not.toContain(envSecret);
    expect(text).not.toContain(TOKEN);
  });

  it('takes 20 concurrent creations and executions, every answer its own', async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        kiln.post('/v1/tools', {
          name: `t${i}`,
          language: i % 2 ? 'javascript' : 'python',
          code: i % 2 ? `function execute(x) { return x * ${i}; }` : `def execute(x):\n    return x * ${i}`,
        }),
      ),
    );
    expect(new Set(created.map((c) => c.body.id)).size).toBe(20);
    const ran = await Promise.all(created.map((c) => kiln.post(`/v1/tools/${c.body.id}/execute`, { input: 3 })));
    expect(ran.map((r) => r.body.output)).toEqual(Array.from({ length: 20 }, (_, i) => 3 * i));
    const ids = new Set((await executions()).map((e) => e.id));
    for (const r of ran) expect(ids.has(r.body.execution.id)).toBe(true);
  });
});
