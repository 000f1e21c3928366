// The E2B dialect (issue 25) with E2B's own published SDKs (e2b, @e2b/code-interpreter; pinned),
// configured as a user would: E2B_API_URL and E2B_SANDBOX_URL at kiln, a kiln key as E2B_API_KEY.
// What an E2B user would recognise: create and kill, commands streamed, a background command
// reconnected and killed, files both ways (a 20 MB binary too), runCode with state, rich results
// and errors, contexts, timeouts, another project's key refused, and the sandbox's box gone from
// the engine on kill and on timeout.
import { randomBytes } from 'node:crypto';
import { Sandbox as CodeSandbox } from '@e2b/code-interpreter';
import { CommandExitError, FileNotFoundError, NotFoundError, Sandbox, SandboxError } from 'e2b';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { type AuthUpstream, startAuthUpstream } from '../helpers/upstream.js';

let kiln: TestKiln;
let upstream: AuthUpstream;
const HOST = 'e2b-echo.test.internal';
const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
const OTHER_KEY = 'e2b-other-project-key-0123456789';

beforeAll(async () => {
  upstream = await startAuthUpstream(HOST, TOKEN, { echo: true });
  kiln = await startTestKiln({
    ...upstream.env,
    KILN_API_KEYS: `${TEST_KEY},b:${OTHER_KEY}`,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_TMPFS_MIB: '64',
  });
  // configuration alone, as the SDKs read it
  process.env.E2B_API_URL = `${kiln.url}/e2b`;
  process.env.E2B_SANDBOX_URL = `${kiln.url}/e2b/sandbox`;
  process.env.E2B_API_KEY = TEST_KEY;
}, 60_000);
afterAll(async () => {
  await kiln?.close();
  upstream?.close();
});

/** The container a sandbox runs in: its hostname is the container's short id (kiln sets none). */
async function boxOf(sbx: Sandbox): Promise<string> {
  return (await sbx.commands.run('hostname')).stdout.trim();
}
/** Whether the engine still runs that container (`gone`: waits, bounded, for it to stop). */
async function running(container: string, gone = false): Promise<boolean> {
  for (const until = Date.now() + (gone ? 10_000 : 0); ; await new Promise((r) => setTimeout(r, 100))) {
    const info = await docker
      .getContainer(container)
      .inspect()
      .catch(() => null);
    if (info?.State.Running !== true || Date.now() >= until) return info?.State.Running === true;
  }
}

describe('E2B SDK (e2b 2.51.0) against kiln', () => {
  it('creates a sandbox, runs commands streamed (exit codes as CommandExitError), and kills it: its box gone', {
    timeout: 60_000,
  }, async () => {
    const sbx = await Sandbox.create({ metadata: { suite: 'kiln-e2b' }, envs: { FOO: 'bar' }, timeoutMs: 120_000 });
    expect(sbx.sandboxId).toMatch(/^sess_/);
    const chunks: string[] = [];
    const r = await sbx.commands.run('echo $FOO; echo oops >&2; pwd', { onStdout: (s) => void chunks.push(s) });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'bar\n/home/user\n', stderr: 'oops\n' });
    expect(chunks.join('')).toBe('bar\n/home/user\n');
    const failed = await sbx.commands.run('echo partial; exit 3').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CommandExitError);
    expect(failed).toMatchObject({ exitCode: 3, stdout: 'partial\n', error: 'exit status 3' });
    const info = await sbx.getInfo();
    expect(info).toMatchObject({ sandboxId: sbx.sandboxId, metadata: { suite: 'kiln-e2b' }, state: 'running' });
    const listed = await Sandbox.list({ query: { metadata: { suite: 'kiln-e2b' } } }).nextItems();
    expect(listed.map((s) => s.sandboxId)).toContain(sbx.sandboxId);
    // the command is an execution in kiln's log, with the sandbox's session id
    const log = await kiln.request('GET', '/v1/executions?limit=10');
    expect(
      // made with the sandbox's own token: named for the key that made the sandbox
      (log.body.data as { details: { session_id?: string; via: string; key?: { name: string } } }[]).some(
        (e) => e.details.session_id === sbx.sandboxId && e.details.via === 'e2b' && e.details.key?.name === 'env',
      ),
    ).toBe(true);
    const box = await boxOf(sbx);
    expect(await running(box)).toBe(true);
    expect(await sbx.kill()).toBe(true);
    expect(await running(box, true)).toBe(false);
    expect(await Sandbox.kill(sbx.sandboxId)).toBe(false);
    expect(await sbx.isRunning()).toBe(false);
  });

  it('runs a background command, lists it, reconnects to it, writes its stdin, and kills it', { timeout: 60_000 }, async () => {
    const sbx = await Sandbox.create();
    try {
      const bg = await sbx.commands.run('for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.3; done', { background: true });
      expect((await sbx.commands.list()).map((p) => p.pid)).toContain(bg.pid);
      await bg.disconnect();
      const seen: string[] = [];
      const again = await sbx.commands.connect(bg.pid, { onStdout: (s) => void seen.push(s) });
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(seen.join('')).toMatch(/tick \d/);
      expect(await again.kill()).toBe(true);
      const end = await again.wait().catch((e: unknown) => e);
      expect(end).toBeInstanceOf(CommandExitError);
      expect((await sbx.commands.list()).map((p) => p.pid)).not.toContain(bg.pid);
      expect(await sbx.commands.kill(bg.pid)).toBe(false);
      await expect(sbx.commands.connect(bg.pid)).rejects.toBeInstanceOf(NotFoundError);
      // SIGTERM reaches what it started (kiln's PID 1 ignores it; its processes do not)
      const term = await sbx.commands.run('sleep 30', { background: true });
      await sbx.commands.run(`kill -TERM ${term.pid}`);
      expect(await term.wait().catch((e: unknown) => (e as CommandExitError).error)).toBe('signal: terminated');
      // stdin: a process that reads it
      const cat = await sbx.commands.run('cat', { background: true, stdin: true });
      await sbx.commands.sendStdin(cat.pid, 'hello stdin\n');
      await sbx.commands.closeStdin(cat.pid);
      expect((await cat.wait()).stdout).toBe('hello stdin\n');
      // its deadline (timeoutMs) ends it, as envd's does
      const slow = await sbx.commands.run('sleep 30', { timeoutMs: 1000 }).catch((e: unknown) => e);
      expect(slow).toBeInstanceOf(SandboxError);
    } finally {
      await sbx.kill();
    }
  });

  it('round-trips files (text, several at once, a 20 MB binary), lists, stats, moves and removes them', { timeout: 120_000 }, async () => {
    const sbx = await Sandbox.create();
    try {
      const w = await sbx.files.write('/home/user/a.txt', 'hello file');
      expect(w).toMatchObject({ name: 'a.txt', path: '/home/user/a.txt' });
      expect(await sbx.files.read('/home/user/a.txt')).toBe('hello file');
      await sbx.files.write([
        { path: 'd/b.txt', data: 'B' },
        { path: '/home/user/c.bin', data: new Uint8Array([1, 2, 3]).buffer },
      ]);
      expect(await sbx.files.read('/home/user/d/b.txt')).toBe('B');
      const big = randomBytes(20 * 1024 * 1024);
      await sbx.files.write('/home/user/big.bin', new Blob([big]));
      const back = await sbx.files.read('/home/user/big.bin', { format: 'bytes' });
      expect(Buffer.from(back).equals(big)).toBe(true);
      expect((await sbx.commands.run('sha256sum big.bin')).stdout.split(' ')[0]).toBe(
        (await import('node:crypto')).createHash('sha256').update(big).digest('hex'),
      );
      const entries = await sbx.files.list('/home/user');
      expect(entries.find((e) => e.name === 'a.txt')).toMatchObject({ type: 'file', size: 10, path: '/home/user/a.txt' });
      expect(entries.find((e) => e.name === 'd')).toMatchObject({ type: 'dir' });
      expect((await sbx.files.list('/home/user', { depth: 2 })).map((e) => e.path)).toContain('/home/user/d/b.txt');
      expect(await sbx.files.exists('/home/user/a.txt')).toBe(true);
      expect(await sbx.files.exists('/home/user/nope')).toBe(false);
      expect(await sbx.files.makeDir('/home/user/x/y')).toBe(true);
      expect(await sbx.files.makeDir('/home/user/x/y')).toBe(false);
      const moved = await sbx.files.rename('/home/user/a.txt', '/home/user/x/a2.txt');
      expect(moved).toMatchObject({ name: 'a2.txt', path: '/home/user/x/a2.txt', type: 'file' });
      expect((await sbx.files.getInfo('/home/user/x/a2.txt')).size).toBe(10);
      await sbx.files.remove('/home/user/x');
      expect(await sbx.files.exists('/home/user/x')).toBe(false);
      await expect(sbx.files.read('/home/user/nope')).rejects.toBeInstanceOf(FileNotFoundError);
      // a file the code wrote is the SDK's to read: one workspace
      await sbx.commands.run('printf made-by-code > /home/user/out.txt');
      expect(await sbx.files.read('out.txt')).toBe('made-by-code');
      // kiln keeps a sandbox's files in its workspace: elsewhere is refused, saying so
      await expect(sbx.files.write('/etc/x', 'no')).rejects.toThrow(/workspace/);
    } finally {
      await sbx.kill();
    }
  });

  it('survives a client that goes away mid-cell and a corrupt gzip upload: 4xx, and the sandbox serves on', {
    timeout: 60_000,
  }, async () => {
    const made = await fetch(`${kiln.url}/e2b/v2/sandboxes`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json' },
      body: '{"templateID":"code-interpreter-v1"}',
    });
    const { sandboxID, envdAccessToken } = (await made.json()) as { sandboxID: string; envdAccessToken: string };
    const headers = { 'e2b-sandbox-id': sandboxID, 'x-access-token': envdAccessToken };
    const gz = await fetch(`${kiln.url}/e2b/sandbox/files?path=z.txt`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' },
      body: 'this is not gzip',
    });
    expect(gz.status).toBe(400);
    expect(await gz.json()).toMatchObject({ code: 400, message: expect.stringMatching(/gzip/) });
    const sbx = await CodeSandbox.connect(sandboxID);
    try {
      await expect(
        sbx.runCode('import time\nfor i in range(8):\n    print(i, flush=True)\n    time.sleep(1)', { timeoutMs: 1500 }),
      ).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 6_000)); // its keepalives and output, after the client went
      expect((await sbx.runCode('6 * 7')).text).toBe('42');
    } finally {
      await sbx.kill();
    }
  });

  it("keeps another project's key away from a sandbox, and a wrong access token out of it", { timeout: 60_000 }, async () => {
    const sbx = await Sandbox.create();
    try {
      await expect(Sandbox.getInfo(sbx.sandboxId, { apiKey: OTHER_KEY })).rejects.toThrow(/not found/i);
      expect(await Sandbox.kill(sbx.sandboxId, { apiKey: OTHER_KEY })).toBe(false);
      const list = await Sandbox.list({ apiKey: OTHER_KEY }).nextItems();
      expect(list.map((s) => s.sandboxId)).not.toContain(sbx.sandboxId);
      const forged = await fetch(`${kiln.url}/e2b/sandbox/process.Process/List`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': 'forged' },
        body: '{}',
      });
      expect(forged.status).toBe(401);
      const unknown = await fetch(`${kiln.url}/e2b/sandbox/health`, { headers: { 'e2b-sandbox-id': 'sess_nope' } });
      expect(unknown.status).toBe(502);
      await expect(Sandbox.create({ apiKey: 'not-a-key-of-kiln' })).rejects.toThrow(/Unauthorized/);
      // what kiln does not have answers E2B's error shape, naming what to use instead
      const fork = await fetch(`${kiln.url}/e2b/sandboxes/${sbx.sandboxId}/fork`, { method: 'POST', headers: { 'x-api-key': TEST_KEY } });
      expect(fork.status).toBe(501);
      expect(await fork.json()).toMatchObject({ code: 501, message: expect.stringMatching(/not supported by kiln/) });
    } finally {
      await sbx.kill();
    }
  });

  it('ends a sandbox at its timeout, setTimeout moving it; its box gone from the engine', { timeout: 60_000 }, async () => {
    const sbx = await Sandbox.create({ timeoutMs: 3_000 });
    const box = await boxOf(sbx);
    await sbx.setTimeout(6_000);
    const info = await sbx.getInfo();
    expect(info.endAt.getTime() - Date.now()).toBeGreaterThan(4_000);
    for (const until = Date.now() + 20_000; (await sbx.isRunning()) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 500));
    expect(await sbx.isRunning()).toBe(false);
    expect(await running(box, true)).toBe(false);
  });
});

describe('kiln underneath E2B: pause, and secrets bound outside the box', () => {
  it('pauses a sandbox into its checkpoint and resumes it on connect: files kept, interpreter state not', { timeout: 90_000 }, async () => {
    const sbx = await CodeSandbox.create();
    try {
      await sbx.files.write('kept.txt', 'across a pause');
      await sbx.runCode('lost = 1');
      expect(await sbx.pause()).toBe(true);
      expect(await sbx.pause()).toBe(false); // paused already
      expect((await CodeSandbox.getInfo(sbx.sandboxId)).state).toBe('paused');
      const again = await CodeSandbox.connect(sbx.sandboxId);
      expect(await again.files.read('kept.txt')).toBe('across a pause');
      expect((await again.runCode('lost')).error).toMatchObject({ name: 'NameError' });
    } finally {
      await sbx.kill();
    }
  });

  it('reaches an upstream with a credential kiln binds to the session, never seen in the box or the answers', {
    timeout: 60_000,
  }, async () => {
    // made through kiln's own API (secrets, egress), then used through E2B's SDK
    const secret = await kiln.request('POST', '/v1/secrets', { name: `e2b-echo-${randomBytes(3).toString('hex')}`, value: TOKEN });
    const made = await kiln.request('POST', '/v1/sessions', {
      language: 'python',
      http: { allow: [{ host: HOST, auth: { bearer: { secret_id: secret.body.id } } }] },
    });
    expect(made.status).toBe(200);
    const sbx = await CodeSandbox.connect(made.body.id as string);
    try {
      const code = `import urllib.request\nprint(urllib.request.urlopen("https://${HOST}:${upstream.port}/x").read().decode())`;
      const ran = await sbx.runCode(code);
      expect(upstream.seen.at(-1)).toBe(`Bearer ${TOKEN}`);
      expect(ran.logs.stdout.join('')).toContain('"authorized":true');
      expect(JSON.stringify(ran)).not.toContain(TOKEN);
      expect(JSON.stringify(ran)).toContain('[redacted secret]');
      const viaShell = await sbx.commands.run(
        `python3 -c 'import urllib.request; print(urllib.request.urlopen("https://${HOST}:${upstream.port}/y").read().decode())'`,
      );
      expect(viaShell.stdout).toContain('"authorized":true');
      expect(viaShell.stdout).not.toContain(TOKEN);
      expect((await sbx.commands.run('env')).stdout).not.toContain(TOKEN);
    } finally {
      await sbx.kill();
    }
  });
});

describe('E2B code interpreter (@e2b/code-interpreter 2.8.0) against kiln', () => {
  it('keeps state across runCode calls, streams output, gives rich results and errors with tracebacks', { timeout: 60_000 }, async () => {
    const sbx = await CodeSandbox.create();
    try {
      const out: string[] = [];
      const results: unknown[] = [];
      const first = await sbx.runCode('x = 41\nprint("hi")\nx + 1', {
        onStdout: (m) => void out.push(m.line),
        onResult: (r) => void results.push(r),
      });
      expect(first.text).toBe('42');
      expect(first.logs.stdout).toEqual(['hi\n']);
      expect(out).toEqual(['hi\n']);
      expect(first.error).toBeUndefined();
      expect((await sbx.runCode('x * 2')).text).toBe('82');
      // a PNG by the display protocol, shown as it is displayed
      const png = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64');
      const shown = await sbx.runCode(
        `class P:\n    def _repr_png_(self): return __import__("base64").b64decode("${png}")\ndisplay(P())\n{"a": [1, 2]}`,
      );
      expect(shown.results[0]?.png).toBe(png);
      expect(shown.results.at(-1)).toMatchObject({ isMainResult: true });
      const html = await sbx.runCode('class H:\n    def _repr_html_(self): return "<b>bold</b>"\nH()');
      expect(html.results[0]?.html).toBe('<b>bold</b>');
      const bad = await sbx.runCode('def f():\n    raise ValueError("boom")\nf()');
      expect(bad.error).toMatchObject({ name: 'ValueError', value: 'boom' });
      expect(bad.error?.traceback).toMatch(/Traceback[\s\S]*ValueError: boom/);
    } finally {
      await sbx.kill();
    }
  });

  it('runs code in contexts of their own (with a working directory), restarts and removes them; JavaScript in a javascript sandbox', {
    timeout: 60_000,
  }, async () => {
    const sbx = await CodeSandbox.create();
    try {
      await sbx.runCode('shared = 1');
      const ctx = await sbx.createCodeContext({ cwd: '/tmp' });
      expect(ctx).toMatchObject({ language: 'python', cwd: '/tmp' });
      expect((await sbx.runCode('import os\nos.getcwd()', { context: ctx })).text).toBe("'/tmp'");
      expect((await sbx.runCode('"shared" in globals()', { context: ctx })).text).toBe('False');
      expect((await sbx.runCode('import os\nos.getcwd()')).text).toBe("'/mnt/req'");
      await sbx.runCode('mine = 2', { context: ctx });
      await sbx.restartCodeContext(ctx);
      expect((await sbx.runCode('"mine" in globals()', { context: ctx })).text).toBe('False');
      expect((await sbx.listCodeContexts()).map((c) => c.id)).toContain(ctx.id);
      await sbx.removeCodeContext(ctx);
      expect((await sbx.listCodeContexts()).map((c) => c.id)).not.toContain(ctx.id);
      await expect(sbx.runCode('1', { context: ctx })).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await sbx.kill();
    }
    const js = await CodeSandbox.create('javascript');
    try {
      await js.runCode('let n = 20');
      const got = await js.runCode('console.log("js"); n * 2 + 2');
      expect(got.text).toBe('42');
      expect(got.logs.stdout).toEqual(['js\n']);
    } finally {
      await js.kill();
    }
  });
});
