// Sessions against the real engine: a box kept across calls, its interpreter's state, its files,
// its deadlines, its bounds, and the walls it keeps (another project's key, the hardening).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { docker, startTestKiln, TEST_INSTANCE, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { type AuthUpstream, startAuthUpstream } from '../helpers/upstream.js';

const OTHER_KEY = 'sessions-other-project-key-0123';
const HOST = 'echo.test.internal';
const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
let kiln: TestKiln;
let upstream: AuthUpstream;

beforeAll(async () => {
  upstream = await startAuthUpstream(HOST, TOKEN, { echo: true });
  kiln = await startTestKiln({
    ...upstream.env,
    KILN_API_KEYS: `${TEST_KEY},b:${OTHER_KEY}`,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_SESSIONS_PER_PROJECT: '3',
    // a small workspace, so that a file past it is quick to send
    KILN_TMPFS_MIB: '8',
  });
}, 60_000);
afterAll(async () => {
  await kiln?.close();
  upstream?.close();
});
// a failed test must not leave its session running for the next ones (the project's bound is 3)
afterEach(async () => {
  const running = await kiln.request('GET', '/v1/sessions?status=running');
  for (const s of running.body.data ?? []) await kiln.request('DELETE', `/v1/sessions/${s.id}`);
});

const start = async (body: object) => {
  const res = await kiln.request('POST', '/v1/sessions', body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { id: string; status: string; expires_at: string; ends_at: string };
};
const run = (id: string, code: string, extra: object = {}) => kiln.request('POST', `/v1/sessions/${id}/execute`, { code, ...extra });
const mainResult = (body: any) => body.results.find((r: any) => r.is_main_result)?.['text/plain'];

describe('a Python session', () => {
  it('keeps variables and imports across calls, answers the last expression, display() and errors, and logs each call', async () => {
    const s = await start({ language: 'python', env: { GREETING: 'hi' } });
    expect(s.status).toBe('running');
    const first = await run(s.id, 'import os\nx = 41\nprint(os.environ["GREETING"])');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ stdout: 'hi\n', error: null, stop_reason: 'exited', restarted: false });
    const second = await run(s.id, 'x + 1');
    expect(mainResult(second.body)).toBe('42');
    const shown = await run(s.id, 'class H:\n    def _repr_html_(self):\n        return "<b>x</b>"\ndisplay(H())\n{"a": 1}');
    expect(shown.body.results[0]['text/html']).toBe('<b>x</b>');
    expect(mainResult(shown.body)).toBe("{'a': 1}");
    const failed = await run(s.id, 'def f():\n    raise ValueError("no")\nf()');
    expect(failed.status).toBe(200);
    expect(failed.body.error).toMatchObject({ name: 'ValueError', value: 'no' });
    expect(failed.body.error.traceback).toContain('f()');
    expect(failed.body.error.traceback).not.toContain('/opt/kiln');
    expect(mainResult((await run(s.id, 'x')).body)).toBe('41'); // an error loses nothing

    const logged = await kiln.request('GET', `/v1/executions/${second.body.id}`);
    expect(logged.body.details).toMatchObject({ type: 'session', session_id: s.id, key: { id: null, name: 'env' } });
    const ended = await kiln.request('DELETE', `/v1/sessions/${s.id}`);
    expect(ended.body).toMatchObject({ status: 'ended', end_reason: 'deleted' });
    const after = await run(s.id, 'x');
    expect(after.status).toBe(409);
    expect(after.body.details[0].reason).toBe('session_ended');
  }, 60_000);

  it('runs commands that share its files, in the workspace, with their exit codes', async () => {
    const s = await start({ language: 'python', files: [{ path: 'data/in.txt', contents: 'seed' }] });
    await run(s.id, 'open("out.txt", "w").write(open("data/in.txt").read() + "!")');
    const cat = await kiln.request('POST', `/v1/sessions/${s.id}/commands`, { cmd: 'cat out.txt; pwd; exit 3' });
    expect(cat.status).toBe(200);
    expect(cat.body).toMatchObject({ exit_code: 3, stdout: 'seed!/mnt/req\n' });
    const argv = await kiln.request('POST', `/v1/sessions/${s.id}/commands`, {
      cmd: ['python3', '-c', 'import sys; print(sys.stdin.read()[::-1])'],
      stdin: 'abc',
    });
    expect(argv.body).toMatchObject({ exit_code: 0, stdout: 'cba\n' });
    await kiln.request('DELETE', `/v1/sessions/${s.id}`);
  }, 60_000);

  it('interrupts a call past its timeout and keeps the state; a crashed interpreter restarts, files kept', async () => {
    const s = await start({ language: 'python' });
    await run(s.id, 'kept = "yes"\nopen("f.txt", "w").write("still here")');
    const spun = await run(s.id, 'while True:\n    pass', { timeout: 1 });
    expect(spun.body).toMatchObject({ stop_reason: 'timeout', error: { name: 'KeyboardInterrupt' } });
    expect(mainResult((await run(s.id, 'kept')).body)).toBe("'yes'");

    const crashed = await run(s.id, 'import os\nos._exit(7)');
    expect(crashed.body).toMatchObject({ stop_reason: 'interpreter_ended', error: { name: 'InterpreterRestarted' } });
    const fresh = await run(s.id, 'print(open("f.txt").read())\n"kept" in globals()');
    expect(fresh.body).toMatchObject({ restarted: true, stdout: 'still here\n' });
    expect(mainResult(fresh.body)).toBe('False');
    await kiln.request('DELETE', `/v1/sessions/${s.id}`);
  }, 60_000);

  it("ends on its idle deadline (its box removed), and another project's key sees none of it", async () => {
    const before = await docker.listContainers({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } });
    const s = await start({ language: 'python', idle_timeout_seconds: 1 });
    expect((await kiln.request('GET', `/v1/sessions/${s.id}`, undefined, OTHER_KEY)).status).toBe(404);
    expect((await kiln.request('POST', `/v1/sessions/${s.id}/execute`, { code: '1' }, OTHER_KEY)).status).toBe(404);
    expect((await kiln.request('DELETE', `/v1/sessions/${s.id}`, undefined, OTHER_KEY)).status).toBe(404);
    const listed = await kiln.request('GET', '/v1/sessions', undefined, OTHER_KEY);
    expect(listed.body.data).toEqual([]);
    let view: any;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      view = (await kiln.request('GET', `/v1/sessions/${s.id}`)).body;
      if (view.status === 'ended') break;
    }
    expect(view).toMatchObject({ status: 'ended', end_reason: 'idle_timeout' });
    // its box is gone: the instance's containers are back to the pools' (refilled) count
    for (let i = 0; i < 40; i++) {
      const now = await docker.listContainers({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } });
      if (now.length <= before.length) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const now = await docker.listContainers({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } });
    expect(now.length).toBeLessThanOrEqual(before.length);
  }, 60_000);

  it('refuses a session past the bounds with a 400 naming the field or a 429 with Retry-After', async () => {
    const tooLong = await kiln.request('POST', '/v1/sessions', { language: 'python', max_lifetime_seconds: 10 ** 7 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.message).toContain('max_lifetime_seconds');
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await start({ language: 'python' })).id);
    const res = await fetch(`${kiln.url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python' }),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    for (const id of ids) await kiln.request('DELETE', `/v1/sessions/${id}`);
  }, 90_000);

  it("runs in a box with every hardening flag of an execution's", async () => {
    const s = await start({ language: 'python' });
    // the box it holds is one of the instance's: every one is inspected, and each must be hardened
    const boxes = await docker.listContainers({ filters: { label: [`kiln.instance=${TEST_INSTANCE}`] } });
    expect(boxes.length).toBeGreaterThan(0);
    for (const c of boxes) {
      const info = await docker.getContainer(c.Id).inspect();
      expect(info.Config.User).toMatch(/^10001(:10001)?$/);
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(info.HostConfig.CapDrop).toEqual(['ALL']);
      expect(info.HostConfig.NetworkMode).toBe('none');
      expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
      expect(info.HostConfig.Mounts ?? []).toEqual([]);
    }
    const who = await kiln.request('POST', `/v1/sessions/${s.id}/commands`, {
      cmd: 'id -u; touch /etc/x 2>/dev/null && echo wrote || echo refused',
    });
    expect(who.body.stdout).toBe('10001\nrefused\n');
    await kiln.request('DELETE', `/v1/sessions/${s.id}`);
  }, 60_000);
});

describe('session_id on /v1/execute and /v1/execute-function', () => {
  it("runs Riza's function contract in the default context and a script as a process of the box", async () => {
    const s = await start({ language: 'python', files: [{ path: 'in.txt', contents: 'abc' }] });
    const fn = await kiln.request('POST', '/v1/execute-function', {
      language: 'python',
      session_id: s.id,
      code: 'def execute(input):\n    global n\n    n = input["a"] + 1\n    print("called")\n    return {"n": n}',
      input: { a: 1 },
    });
    expect(fn.status, JSON.stringify(fn.body)).toBe(200);
    expect(fn.body).toMatchObject({
      output: { n: 2 },
      output_status: 'valid',
      execution: { exit_code: 0, stdout: 'called\n', session_id: s.id },
    });
    expect(mainResult((await run(s.id, 'n * 10')).body)).toBe('20'); // what the function defined stays
    const script = await kiln.request('POST', '/v1/execute', {
      language: 'python',
      session_id: s.id,
      code: 'import sys\nprint(open("in.txt").read(), sys.argv[1:], sys.stdin.read())\nsys.exit(4)',
      args: ['x'],
      stdin: 'in',
    });
    expect(script.body).toMatchObject({ exit_code: 4, stdout: "abc ['x'] in\n", stop_reason: 'exited', session_id: s.id });
    const refused = await kiln.request('POST', '/v1/execute', {
      language: 'python',
      session_id: s.id,
      code: '1',
      files: [{ path: 'a', contents: 'b' }],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.details[0]).toMatchObject({ field: 'files', reason: 'not_with_session' });
    const wrong = await kiln.request('POST', '/v1/execute', { language: 'javascript', session_id: s.id, code: '1' });
    expect(wrong.body.details[0]).toMatchObject({ field: 'language', reason: 'wrong_language' });
    const bad = await kiln.request('POST', '/v1/execute-function', {
      language: 'python',
      session_id: s.id,
      code: 'def execute(input):\n    return object()',
      input: null,
    });
    expect(bad.body).toMatchObject({ output: null, output_status: 'json_serialization_error' });
  }, 60_000);

  it('does the same in a Node session, TypeScript included', async () => {
    const s = await start({ language: 'typescript' });
    const fn = await kiln.request('POST', '/v1/execute-function', {
      language: 'typescript',
      session_id: s.id,
      code: 'function execute(input: { x: number }): number { return input.x * 2; }',
      input: { x: 21 },
    });
    expect(fn.body).toMatchObject({ output: 42, output_status: 'valid' });
    const script = await kiln.request('POST', '/v1/execute', {
      language: 'typescript',
      session_id: s.id,
      code: 'const n: number = 6; console.log(n * 7, process.argv.slice(1));',
      args: ['a'],
    });
    expect(script.body, JSON.stringify(script.body)).toMatchObject({ exit_code: 0, stdout: "42 [ 'a' ]\n" });
  }, 60_000);
});

describe("a session's secrets", () => {
  it('injects a bound credential outside the box, and takes its value out of answers, the log and files, whatever echoed it', async () => {
    const secret = await kiln.request('POST', '/v1/secrets', { name: 'echo-token', value: TOKEN });
    const s = await start({
      language: 'python',
      http: { allow: [{ host: HOST, auth: { bearer: { secret_id: secret.body.id } } }] },
    });
    const code = [
      'import os, urllib.request',
      `body = urllib.request.urlopen("https://${HOST}:${upstream.port}/x").read().decode()`,
      'open("echo.json", "w").write(body)',
      'print(body)',
      'body',
    ].join('\n');
    const ran = await run(s.id, code);
    expect(ran.status).toBe(200);
    expect(upstream.seen.at(-1)).toBe(`Bearer ${TOKEN}`); // it reached the upstream...
    expect(ran.body.stdout).toContain('"authorized":true');
    expect(JSON.stringify(ran.body)).not.toContain(TOKEN); // ...and nowhere back
    expect(JSON.stringify(ran.body)).toContain('[redacted secret]');
    const logged = await kiln.request('GET', `/v1/executions/${ran.body.id}`);
    expect(JSON.stringify(logged.body)).not.toContain(TOKEN);
    const file = await fetch(`${kiln.url}/v1/sessions/${s.id}/files/echo.json`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    const text = await file.text();
    expect(file.status).toBe(200);
    expect(text).toContain('[redacted secret]');
    expect(text).not.toContain(TOKEN);
  }, 60_000);
});

describe("a session's files", () => {
  it('streams files in and out of the workspace, lists and removes them, and refuses every way out', async () => {
    const s = await start({ language: 'python' });
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
    const put = await fetch(`${kiln.url}/v1/sessions/${s.id}/files/data/blob.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_KEY}` },
      body: bytes,
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ path: 'data/blob.bin', size: bytes.length });
    // the code sees it, and what the code writes comes back
    const seen = await run(
      s.id,
      'import hashlib\nopen("out.txt", "w").write("made")\nhashlib.sha256(open("data/blob.bin", "rb").read()).hexdigest()',
    );
    const { createHash } = await import('node:crypto');
    expect(mainResult(seen.body)).toBe(`'${createHash('sha256').update(bytes).digest('hex')}'`);
    const got = await fetch(`${kiln.url}/v1/sessions/${s.id}/files/data/blob.bin`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(got.status).toBe(200);
    expect(got.headers.get('content-length')).toBe(String(bytes.length));
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    const listed = await kiln.request('GET', `/v1/sessions/${s.id}/files?path=`);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.data.map((e: any) => [e.path, e.type])).toEqual([
      ['data', 'directory'],
      ['out.txt', 'file'],
    ]);

    // a symlink the code planted leads nowhere, whichever way it is used
    await kiln.request('POST', `/v1/sessions/${s.id}/commands`, { cmd: 'ln -s /etc link; ln -s /etc/passwd pw' });
    for (const path of ['pw', 'link/passwd']) {
      const res = await fetch(`${kiln.url}/v1/sessions/${s.id}/files/${path}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
      expect(res.status, path).toBe(400);
    }
    const through = await fetch(`${kiln.url}/v1/sessions/${s.id}/files/link/x`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_KEY}` },
      body: 'x',
    });
    expect(through.status).toBe(400);
    const climb = await fetch(`${kiln.url}/v1/sessions/${s.id}/files/..%2F..%2Fetc%2Fpasswd`, {
      headers: { authorization: `Bearer ${TEST_KEY}` },
    });
    expect(climb.status).toBe(400);
    expect((await kiln.request('GET', `/v1/sessions/${s.id}/files/missing.txt`)).status).toBe(404);
    expect((await kiln.request('GET', `/v1/sessions/${s.id}/files/out.txt`, undefined, OTHER_KEY)).status).toBe(404);

    // past the workspace's size: a declared length is refused at once, a streamed body by the box's writer
    const big = Buffer.alloc(9 * 1024 * 1024, 1);
    // (its headers alone: kiln answers before the body, and a client still sending would see the socket close)
    const declared = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${kiln.url}/v1/sessions/${s.id}/files/big.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-length': big.length },
      });
      req.on('response', (res) => resolve(res.statusCode!));
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(declared).toBe(413);
    // chunked, no length: the box's writer stops at the workspace's size; kiln answers while the client still sends
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${kiln.url}/v1/sessions/${s.id}/files/big.bin`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TEST_KEY}` },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
        req.destroy();
      });
      req.on('error', reject);
      let at = 0;
      const more = () => {
        while (at < big.length) {
          const chunk = big.subarray(at, at + (1 << 20));
          at += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', more);
        }
        req.end();
      };
      more();
    });
    expect(streamed).toBe(413);
    expect((await kiln.request('GET', `/v1/sessions/${s.id}/files/big.bin`)).status).toBe(404); // nothing half-written is left
    expect((await kiln.request('DELETE', `/v1/sessions/${s.id}/files/data`)).body).toEqual({ path: 'data', deleted: true });
    expect((await kiln.request('GET', `/v1/sessions/${s.id}/files/data/blob.bin`)).status).toBe(404);
    await kiln.request('DELETE', `/v1/sessions/${s.id}`);
  }, 60_000);
});

describe('a JavaScript session', () => {
  it('keeps declarations across calls, with top-level await and the last expression', async () => {
    const s = await start({ language: 'javascript' });
    expect((await run(s.id, 'let x = 41; const f = async () => x + 1;')).body.error).toBeNull();
    const second = await run(s.id, 'await f()');
    expect(mainResult(second.body)).toBe('42');
    const printed = await run(s.id, 'console.log("hello", x)');
    expect(printed.body.stdout).toBe('hello 41\n');
    const failed = await run(s.id, 'null.boom');
    expect(failed.body.error.name).toBe('TypeError');
    await kiln.request('DELETE', `/v1/sessions/${s.id}`);
  }, 60_000);
});

// a PNG made with the standard library only (the stock image has no plotting library): a 4x4 chart
const PNG_CODE = `import struct, zlib, base64
def png(w, h, pixel):
    rows = b"".join(b"\\x00" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
chart = png(4, 4, lambda x, y: (255 * (y >= 4 - data[x] // 3), 0, 0))
open("chart.png", "wb").write(chart)
class Chart:
    def _repr_png_(self):
        return base64.b64encode(chart).decode()
display(Chart())
len(chart)`;

describe('an agent on the MCP SDK', () => {
  it('starts a session, loads data once, queries it over calls, writes a chart, fetches it as an image, and ends the session', async () => {
    const client = new Client({ name: 'kiln-sessions', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${kiln.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${TEST_KEY}` } } }),
    );
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['start_session', 'end_session', 'write_file', 'read_file', 'list_files']));
    const started = (await client.callTool({ name: 'start_session', arguments: { language: 'python' } })) as any;
    const sessionId = started.structuredContent.session_id as string;
    expect(sessionId).toMatch(/^sess_/);
    const put = await client.callTool({
      name: 'write_file',
      arguments: { session_id: sessionId, path: 'data.csv', content: 'v\n3\n6\n9\n12\n' },
    });
    expect(put.isError).toBeFalsy();
    const load = (await client.callTool({
      name: 'execute_python',
      arguments: { session_id: sessionId, code: 'data = [int(line) for line in open("data.csv").read().split()[1:]]\nlen(data)' },
    })) as any;
    expect(load).toMatchObject({ isError: false, structuredContent: { output: '4', stop_reason: 'exited' } });
    for (const [code, expected] of [
      ['sum(data)', '30'],
      ['max(data)', '12'],
    ]) {
      const r = (await client.callTool({ name: 'execute_python', arguments: { session_id: sessionId, code } })) as any;
      expect(r.structuredContent.output).toBe(expected);
    }
    const drawn = (await client.callTool({ name: 'execute_python', arguments: { session_id: sessionId, code: PNG_CODE } })) as any;
    expect(drawn.isError, JSON.stringify(drawn)).toBe(false);
    expect(drawn.content.find((c: any) => c.type === 'image')).toMatchObject({ mimeType: 'image/png' });
    const image = (await client.callTool({ name: 'read_file', arguments: { session_id: sessionId, path: 'chart.png' } })) as any;
    expect(image.content[0].type).toBe('image');
    expect(Buffer.from(image.content[0].data, 'base64').subarray(1, 4).toString()).toBe('PNG');
    const listed = (await client.callTool({ name: 'list_files', arguments: { session_id: sessionId } })) as any;
    expect(listed.structuredContent.entries.map((e: any) => e.path)).toEqual(['chart.png', 'data.csv']);
    const failed = (await client.callTool({ name: 'execute_python', arguments: { session_id: sessionId, code: 'data[99]' } })) as any;
    expect(failed.isError).toBe(true);
    expect(failed.content[0].text).toContain('IndexError');
    await client.callTool({ name: 'end_session', arguments: { session_id: sessionId } });
    const after = (await kiln.request('GET', `/v1/sessions/${sessionId}`)).body;
    expect(after).toMatchObject({ status: 'ended', end_reason: 'deleted' });
    await client.close();
  }, 60_000);
});
