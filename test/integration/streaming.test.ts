// Server-sent events on the executes (issue 24): output arrives as the box writes it (each chunk
// before the program ends, by the client's own clock), in order, UTF-8 whole, with a bound secret
// taken out even when it is printed in pieces; the last event is the plain call's answer; a request
// refused before its run begins is answered as without the header, with its status.
import { randomBytes } from 'node:crypto';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKiln, TEST_KEY, type TestKiln } from '../helpers/kiln.js';
import { type Received, readEvents } from '../helpers/sse.js';

let kiln: TestKiln;
const OTHER_KEY = 'streaming-other-project-key-0123';

const follow = (id: string, lastEventId?: number, key = TEST_KEY) =>
  fetch(`${kiln.url}/v1/executions/${id}/events`, {
    headers: { authorization: `Bearer ${key}`, ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }) },
  });

/** POSTs `body` asking for events; every event with the client's time of arrival. */
async function stream(path: string, body: unknown): Promise<{ status: number; type: string | null; events: Received[]; text?: string }> {
  const res = await fetch(kiln.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
  const type = res.headers.get('content-type');
  if (!type?.startsWith('text/event-stream')) return { status: res.status, type, events: [], text: await res.text() };
  const events: Received[] = [];
  const parser = createParser({ onEvent: (e) => events.push({ ...e, at: performance.now() }) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  return { status: res.status, type, events };
}
const printed = (events: Received[], name: string) =>
  events
    .filter((e) => e.event === name)
    .map((e) => (JSON.parse(e.data) as { text: string }).text)
    .join('');

beforeAll(async () => {
  kiln = await startTestKiln({
    KILN_API_KEYS: `${TEST_KEY},b:${OTHER_KEY}`,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '1',
    KILN_POOL_TYPESCRIPT: '0',
  });
}, 60_000);
afterAll(async () => {
  await kiln?.close();
});

describe('an execute asked for server-sent events', () => {
  const programs = {
    python: 'import time\nfor i in range(5):\n    print("line", i, flush=True)\n    time.sleep(0.2)',
    javascript: 'let i = 0; const t = setInterval(() => { console.log("line", i); if (++i === 5) clearInterval(t) }, 200)',
  };
  for (const [language, code] of Object.entries(programs))
    it(`streams each line of a ${language} program as it prints it, then the plain answer`, { timeout: 30_000 }, async () => {
      const got = await stream('/v1/execute', { language, code });
      expect(got.status).toBe(200);
      const names = got.events.map((e) => e.event);
      expect(names[0]).toBe('start');
      expect(names.at(-1)).toBe('result');
      const result = JSON.parse(got.events.at(-1)!.data) as { id: string; stdout: string; exit_code: number };
      expect(JSON.parse(got.events[0]!.data)).toEqual({ id: result.id });
      expect(result).toMatchObject({ exit_code: 0, stdout: 'line 0\nline 1\nline 2\nline 3\nline 4\n' });
      expect(printed(got.events, 'stdout')).toBe(result.stdout);
      // line i arrives about (4 - i) × 200 ms before the end: the first well before the answer
      const end = got.events.at(-1)!.at;
      const firstLine = got.events.find((e) => e.event === 'stdout')!;
      expect(end - firstLine.at).toBeGreaterThan(500);
      const ids = got.events.map((e) => Number(e.id));
      expect(ids).toEqual(ids.map((_, i) => i + 1));
      // the same request without the header: the answer as it always was
      const plain = await kiln.request('POST', '/v1/execute', { language, code });
      expect(Object.keys(plain.body).sort()).toEqual(Object.keys(result).sort());
    });

  it('keeps UTF-8 whole across writes, and a function and a tool answer as their plain calls', { timeout: 30_000 }, async () => {
    const code =
      'import sys, time\ndef execute(input):\n    b = "é→😀".encode()\n    for i in range(len(b)):\n        sys.stdout.buffer.write(b[i:i+1]); sys.stdout.flush(); time.sleep(0.01)\n    return {"n": input["n"] + 1}';
    const got = await stream('/v1/execute-function', { language: 'python', code, input: { n: 1 } });
    expect(printed(got.events, 'stdout')).toBe('é→😀');
    const result = JSON.parse(got.events.at(-1)!.data) as { output: unknown; execution: { stdout: string } };
    expect(result).toMatchObject({ output: { n: 2 }, output_status: 'valid', execution: { stdout: 'é→😀' } });
    const tool = await kiln.request('POST', '/v1/tools', { name: `t_${randomBytes(3).toString('hex')}`, language: 'python', code });
    const viaTool = await stream(`/v1/tools/${tool.body.id}/execute`, { input: { n: 41 } });
    expect(JSON.parse(viaTool.events.at(-1)!.data)).toMatchObject({ output: { n: 42 } });
  });

  it('takes a bound secret out of the stream, even printed in pieces across chunks', { timeout: 30_000 }, async () => {
    const value = `sk_${randomBytes(16).toString('hex')}`;
    const secret = await kiln.request('POST', '/v1/secrets', { name: `sse-${randomBytes(3).toString('hex')}`, value });
    const code =
      'import os, sys, time\ndef execute(input):\n    v = os.environ["KEY"]\n    for part in (v[:7], v[7:20], v[20:]):\n        sys.stdout.write(part); sys.stdout.flush(); time.sleep(0.05)\n    print(" end", flush=True)\n    return "ok"';
    const tool = await kiln.request('POST', '/v1/tools', {
      name: `leaky_${randomBytes(3).toString('hex')}`,
      language: 'python',
      code,
      env: [{ name: 'KEY', secret_id: secret.body.id }],
    });
    const got = await stream(`/v1/tools/${tool.body.id}/execute`, { input: {} });
    const all = got.events.map((e) => e.data).join('\n');
    expect(all).not.toContain(value);
    expect(all).not.toContain(value.slice(0, 20));
    expect(printed(got.events, 'stdout')).toBe('[redacted secret] end\n');
  });

  it("streams a session's execute and command as they print and display, the session's state kept", { timeout: 30_000 }, async () => {
    const session = await kiln.request('POST', '/v1/sessions', { language: 'python' });
    expect(session.status).toBe(200);
    const id = session.body.id as string;
    try {
      const got = await stream(`/v1/sessions/${id}/execute`, {
        code: 'import time\nfor i in range(4):\n    print("tick", i, flush=True)\n    time.sleep(0.2)\nn = 4\nn * 10',
      });
      const result = JSON.parse(got.events.at(-1)!.data) as { stdout: string; results: { 'text/plain': string }[] };
      expect(got.events[0]!.event).toBe('start');
      expect(printed(got.events, 'stdout')).toBe('tick 0\ntick 1\ntick 2\ntick 3\n');
      expect(result.stdout).toBe(printed(got.events, 'stdout'));
      expect(result.results[0]?.['text/plain']).toBe('40');
      expect(got.events.at(-1)!.at - got.events.find((e) => e.event === 'stdout')!.at).toBeGreaterThan(400);
      // displays as the code shows them, after what was printed before them; the answer holds them all
      const shown = await stream(`/v1/sessions/${id}/execute`, {
        code: 'import time\nprint("before", flush=True)\ndisplay({"text/html": "<b>one</b>"}, raw=True)\ntime.sleep(0.6)\ndisplay(n + 1)\nprint("after")\n"last"',
      });
      const order = shown.events.map((e) => e.event);
      expect(printed(shown.events.slice(0, order.indexOf('display')), 'stdout')).toBe('before\n');
      expect(order.at(-1)).toBe('result');
      expect(printed(shown.events, 'stdout')).toBe('before\nafter\n');
      const displays = shown.events.filter((e) => e.event === 'display');
      expect(displays.map((e) => JSON.parse(e.data))).toEqual([{ 'text/html': '<b>one</b>' }, { 'text/plain': '5' }]);
      expect(displays[1]!.at - displays[0]!.at).toBeGreaterThan(400);
      const answered = JSON.parse(shown.events.at(-1)!.data) as { results: Record<string, unknown>[] };
      expect(answered.results).toEqual([
        { 'text/html': '<b>one</b>' },
        { 'text/plain': '5' },
        { 'text/plain': "'last'", is_main_result: true },
      ]);
      const cmd = await stream(`/v1/sessions/${id}/commands`, { cmd: 'for i in 1 2 3; do echo step $i; sleep 0.2; done; echo oops >&2' });
      expect(printed(cmd.events, 'stdout')).toBe('step 1\nstep 2\nstep 3\n');
      expect(printed(cmd.events, 'stderr')).toBe('oops\n');
      expect(JSON.parse(cmd.events.at(-1)!.data)).toMatchObject({ exit_code: 0 });
      // an unknown session is a 404 as without the header
      expect((await stream('/v1/sessions/sess_missing/execute', { code: '1' })).status).toBe(404);
    } finally {
      await kiln.request('DELETE', `/v1/sessions/${id}`);
    }
  });

  it("streams a JavaScript session's displays as the code shows them", { timeout: 30_000 }, async () => {
    const session = await kiln.request('POST', '/v1/sessions', { language: 'javascript' });
    expect(session.status).toBe(200);
    const id = session.body.id as string;
    try {
      const got = await stream(`/v1/sessions/${id}/execute`, {
        code: 'display({"text/html": "<i>a</i>"});\nawait new Promise((r) => setTimeout(r, 600));\nconsole.log("between");\ndisplay(6 * 7);',
      });
      expect(got.events.filter((e) => e.event !== 'start').map((e) => e.event)).toEqual(['display', 'stdout', 'display', 'result']);
      // (printed between them, after a pause: its place is sure; output printed right after a display may pass it)
      const displays = got.events.filter((e) => e.event === 'display');
      expect(displays.map((e) => JSON.parse(e.data))).toEqual([{ 'text/html': '<i>a</i>' }, { 'text/plain': '42' }]);
      expect(displays[1]!.at - displays[0]!.at).toBeGreaterThan(400);
      expect((JSON.parse(got.events.at(-1)!.data) as { results: unknown[] }).results.slice(0, 2)).toEqual(
        displays.map((e) => JSON.parse(e.data)),
      );
    } finally {
      await kiln.request('DELETE', `/v1/sessions/${id}`);
    }
  });

  it('lets a client that lost its stream reconnect with Last-Event-ID and miss nothing', { timeout: 30_000 }, async () => {
    const abort = new AbortController();
    const res = await fetch(`${kiln.url}/v1/execute`, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        language: 'python',
        code: 'import time\nfor i in range(8):\n    print("n", i, flush=True)\n    time.sleep(0.15)',
      }),
    });
    const before = await readEvents(res, 3, abort); // start and two lines, then the client goes away
    const id = (JSON.parse(before[0]!.data) as { id: string }).id;
    expect((await follow(id, 3, OTHER_KEY)).status).toBe(404);
    const after = await readEvents(await follow(id, Number(before.at(-1)!.id)));
    expect(after[0]!.id).toBe('4');
    const result = JSON.parse(after.at(-1)!.data) as { stdout: string };
    expect(after.at(-1)!.event).toBe('result');
    expect(printed([...before, ...after], 'stdout')).toBe(result.stdout);
    expect(result.stdout).toBe(Array.from({ length: 8 }, (_, i) => `n ${i}\n`).join(''));
  });

  it("follows an async invocation's events from queued to its status, and an ended run's as recorded", { timeout: 30_000 }, async () => {
    const accepted = await fetch(`${kiln.url}/v1/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', prefer: 'respond-async' },
      body: JSON.stringify({
        language: 'python',
        code: 'import time\nfor i in range(3):\n    print("async", i, flush=True)\n    time.sleep(0.2)',
      }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    const events = await readEvents(await follow(id));
    expect(events[0]!.event).toBe('start');
    expect(printed(events, 'stdout')).toBe('async 0\nasync 1\nasync 2\n');
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ id, status: 'finished' });
    // ended: the recorded form, from Last-Event-ID on
    const plain = await kiln.request('POST', '/v1/execute', { language: 'python', code: 'print("once")' });
    const replay = await readEvents(await follow(plain.body.id));
    expect(replay.map((e) => e.event)).toEqual(['start', 'stdout', 'result']);
    expect(JSON.parse(replay.at(-1)!.data)).toMatchObject({ id: plain.body.id, status: 'finished' });
    expect((await readEvents(await follow(plain.body.id, 2))).map((e) => e.event)).toEqual(['result']);
    expect((await follow('exec_missing')).status).toBe(404);
    expect((await follow(plain.body.id, -1)).status).toBe(400);
  });

  it('runs a plain call on when its client goes away mid-run, and logs it with its output', { timeout: 30_000 }, async () => {
    const marker = `gone-${randomBytes(4).toString('hex')}`;
    const abort = new AbortController();
    const call = fetch(`${kiln.url}/v1/execute`, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'python', code: `import time\ntime.sleep(1.5)\nprint("${marker} finished")` }),
    });
    setTimeout(() => abort.abort(), 400);
    await expect(call).rejects.toThrow();
    type Logged = { id: string; details: { request: { code?: string }; response: { stdout: string } } };
    let found: Logged | undefined;
    for (const until = Date.now() + 10_000; !found && Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
      const list = await kiln.request('GET', '/v1/executions?limit=20');
      found = (list.body.data as Logged[]).find((e) => e.details.request?.code?.includes(marker));
    }
    expect(found?.details.response.stdout).toBe(`${marker} finished\n`);
  });

  it('answers a request refused before its run as without the header: its status, its JSON', { timeout: 30_000 }, async () => {
    const bad = await stream('/v1/execute', { language: 'cobol', code: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/^application\/json/);
    expect(JSON.parse(bad.text!)).toMatchObject({ details: [{ field: 'language' }] });
  });
});
