// Three kiln processes (replicas) on one Docker engine and one PostgreSQL: state made through one is
// used through another; 60 async invocations spread over the three end exactly once each, including
// when one replica is SIGKILLed mid-burst; no replica's start removes another's boxes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/egress/ca.js';
import { call, docker, TEST_INSTANCE, TEST_KEY, TEST_OCI_RUNTIME } from '../helpers/kiln.js';
import { spawnKiln, type KilnProcess } from '../helpers/kiln-process.js';
import { openConsent, submitConsent } from '../helpers/oauth-client.js';
import { type Received, readEvents } from '../helpers/sse.js';
import { requirePostgres, startTcpProxy, testDatabaseUrl } from '../helpers/postgres.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const database = `kiln_replicas_${randomBytes(4).toString('hex')}`;
const admin = new pg.Pool({ connectionString: testDatabaseUrl(), max: 1 });
const url = (() => {
  const u = new URL(testDatabaseUrl());
  u.pathname = `/${database}`;
  return u.toString();
})();
const instance = (i: number) => `${TEST_INSTANCE}-r${i}`;
let receiver: WebhookReceiver;
let env: (i: number) => Record<string, string>;
let sharedCa: string;
const replicas: (KilnProcess | null)[] = [null, null, null];

/** A port free now on loopback: a replica is told its own address (KILN_REPLICA_URL) before it starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  await requirePostgres();
  await admin.query(`create database ${database}`);
  receiver = await startWebhookReceiver();
  const secretsKey = randomBytes(32).toString('base64'); // shared: any replica opens any secret
  // one egress CA for all, made once as a kiln makes its own, then given to each as files
  const caDir = mkdtempSync(join(tmpdir(), 'kiln-replica-ca-'));
  sharedCa = (await CertificateAuthority.loadOrCreate(caDir)).certPem;
  const made = new Map<number, Record<string, string>>();
  const ports = await Promise.all([1, 2, 3].map(() => freePort()));
  // one environment per replica number, made once: a restart of replica i is the same replica
  env = (i) => made.get(i) ?? made.set(i, replicaEnv(i)).get(i)!;
  const replicaEnv = (i: number): Record<string, string> => ({
    ...(ports[i - 1] ? { PORT: String(ports[i - 1]), KILN_REPLICA_URL: `http://127.0.0.1:${ports[i - 1]}` } : {}),
    KILN_SESSION_CHECKPOINT_SECONDS: '1',
    KILN_EGRESS_CA_CERT_FILE: join(caDir, 'egress-ca.pem'),
    KILN_EGRESS_CA_KEY_FILE: join(caDir, 'egress-ca-key.pem'),
    KILN_DATABASE_URL: url,
    KILN_SECRETS_KEY: secretsKey,
    KILN_INSTANCE: instance(i),
    KILN_DATA_DIR: mkdtempSync(join(tmpdir(), `kiln-replica-${i}-`)),
    KILN_OCI_RUNTIME: TEST_OCI_RUNTIME,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_ASYNC_CONCURRENCY: '2',
    KILN_REPLICA_TIMEOUT_SECONDS: '5',
    KILN_MAX_TIMEOUT_SECONDS: '20',
    KILN_DEFAULT_TIMEOUT_SECONDS: '10',
    KILN_WEBHOOK_ALLOW_ADDRESSES: `127.0.0.1:${receiver.port}`,
    KILN_OAUTH_SERVER: 'true',
    KILN_OAUTH_ACCESS_TOKEN_SECONDS: '3',
  });
  // all three at once: their migrations and the queue's schema race, as replicas' do
  // (each kept as soon as it is up: afterAll stops whichever started, even when another did not)
  await Promise.all([1, 2, 3].map(async (i) => void (replicas[i - 1] = await spawnKiln(env(i)))));
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((k) => k?.stop()));
  receiver?.close();
  await admin.query(`drop database if exists ${database} with (force)`);
  await admin.end();
}, 120_000);

const r = (i: number) => replicas[i - 1]!;
const post = (k: KilnProcess, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(k.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
/** The invocation ids a replica's log says it started (its JSON lines, kept even after a SIGKILL). */
const startedBy = (k: KilnProcess) =>
  k
    .output()
    .split('\n')
    .filter((l) => l.includes('"invocation started"'))
    .map((l) => (JSON.parse(l) as { invocation: string }).invocation);

describe('replicas on one PostgreSQL', () => {
  it('a secret and a tool made through one replica run through the others; the executions log is one', { timeout: 120_000 }, async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const secret = (await (await post(r(1), '/v1/secrets', { name: 'shared-token', value: token })).json()) as { id: string };
    const toolRes = await post(r(1), '/v1/tools', {
      name: 'shared',
      language: 'python',
      code:
        'import os\ndef execute(input):\n    return {"n": input["n"] * 2, "token_ok": os.environ["TOKEN"] == ' +
        JSON.stringify(token) +
        '}',
      env: [{ name: 'TOKEN', secret_id: secret.id }],
    });
    expect(toolRes.status).toBe(200);
    const tool = (await toolRes.json()) as { id: string };
    for (const k of [r(2), r(3)]) {
      const res = await post(k, `/v1/tools/${tool.id}/execute`, { input: { n: 21 } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { execution: { id: string }; output: unknown };
      expect(body.output).toEqual({ n: 42, token_ok: true });
      // run on k, read through replica 1
      const logged = await call(r(1).url, 'GET', `/v1/executions/${body.execution.id}`);
      expect(logged.status).toBe(200);
      expect(logged.body).toMatchObject({ id: body.execution.id, details: { type: 'tool', tool_id: tool.id } });
    }
  });

  it('every replica gives its boxes the one egress CA it was configured with, and makes none of its own', { timeout: 60_000 }, async () => {
    for (const i of [1, 2, 3]) {
      const res = await post(r(i), '/v1/execute', {
        language: 'python',
        code: 'import os\nprint(open(os.environ["SSL_CERT_FILE"]).read(), end="")',
      });
      expect(((await res.json()) as { stdout: string }).stdout.trim()).toBe(sharedCa.trim());
      expect(readdirSync(env(i).KILN_DATA_DIR!)).not.toContain('egress-ca.pem');
    }
  });

  it('a cancel through one replica stops the run on another', { timeout: 120_000 }, async () => {
    const res = await post(
      r(1),
      '/v1/execute',
      { language: 'python', code: 'import time\nprint("up", flush=True)\ntime.sleep(15)' },
      { prefer: 'respond-async' },
    );
    const { id } = (await res.json()) as { id: string };
    let runner = 0;
    const deadline = Date.now() + 60_000;
    while (!runner) {
      if (Date.now() > deadline) throw new Error('never started');
      runner = [1, 2, 3].find((i) => startedBy(r(i)).includes(id)) ?? 0;
      await new Promise((done) => setTimeout(done, 50));
    }
    const other = r((runner % 3) + 1);
    const started = Date.now();
    const cancel = await fetch(`${other.url}/v1/executions/${id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}` },
    });
    expect(cancel.status).toBe(200);
    for (;;) {
      const { body } = await call(other.url, 'GET', `/v1/executions/${id}`);
      if (body.status === 'cancelled') {
        expect(body.details.response).toMatchObject({ stop_reason: 'cancelled' });
        break;
      }
      expect(['queued', 'running']).toContain(body.status);
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(Date.now() - started).toBeLessThan(10_000); // long before the 15 s sleep ends
  });

  // (no retry: a second try would find replica 3 dead)
  it('60 async invocations over three replicas end once each, one replica SIGKILLed mid-burst', {
    timeout: 300_000,
    retry: 0,
  }, async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await post(
        r((i % 3) + 1),
        '/v1/execute',
        {
          language: 'python',
          code: `import time\ntime.sleep(${(0.3 + (i % 4) * 0.3).toFixed(1)})\nprint("marker ${i}")`,
          callback_url: `http://127.0.0.1:${receiver.port}/hook`,
        },
        { prefer: 'respond-async' },
      );
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    // replica 3 dies while it runs something of the burst
    const deadline = Date.now() + 90_000;
    for (;;) {
      const log = r(3).output();
      const running = (log.match(/"invocation started"/g)?.length ?? 0) - (log.match(/"invocation ended"/g)?.length ?? 0);
      if (running > 0) break;
      if (Date.now() > deadline) throw new Error('replica 3 never ran an invocation');
      await new Promise((res) => setTimeout(res, 50));
    }
    await r(3).kill();
    const killedStarted = startedBy(r(3));

    // every one ends, as seen through a surviving replica
    const ended = new Map<string, any>();
    const until = Date.now() + 200_000;
    while (ended.size < ids.length) {
      if (Date.now() > until) throw new Error(`not ended: ${ids.filter((id) => !ended.has(id)).join(', ')}`);
      for (const id of ids.filter((x) => !ended.has(x))) {
        const { body } = await call(r(1).url, 'GET', `/v1/executions/${id}`);
        if (!['queued', 'running'].includes(body.status)) ended.set(id, body);
      }
      await new Promise((res) => setTimeout(res, 250));
    }

    // no invocation started twice, anywhere; each replica took some
    const starts = [...killedStarted, ...startedBy(r(1)), ...startedBy(r(2))];
    expect(new Set(starts).size).toBe(starts.length);
    for (const k of [killedStarted, startedBy(r(1)), startedBy(r(2))]) expect(k.length).toBeGreaterThan(0);
    // which kiln claimed each, as the database has it (a SIGKILL can land between a claim and its log line)
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const owners = new Map(
      (await db.query<{ id: string; owner: string }>('select id, owner from invocations where id = any($1)', [ids])).rows.map((row) => [
        row.id,
        row.owner,
      ]),
    );
    await db.end();
    for (const [i, id] of ids.entries()) {
      const v = ended.get(id);
      if (v.status === 'finished') {
        expect(v.details.response.stdout).toBe(`marker ${i}\n`);
      } else {
        // the at-most-once rule: what the dead replica was running is not run again
        expect(v.status, `${id}: ${JSON.stringify(v)}`).toBe('interrupted');
        expect(owners.get(id)).toMatch(new RegExp(`^${instance(3)}/`));
        expect(startedBy(r(1)).concat(startedBy(r(2)))).not.toContain(id);
      }
    }
    expect([...ended.values()].some((v) => v.status === 'interrupted')).toBe(true);

    // every ending posted once (one kiln per attempt), under its own webhook-id
    const hooks = Date.now() + 60_000;
    while (new Set(receiver.received.map((h) => h.headers['webhook-id'])).size < ids.length && Date.now() < hooks)
      await new Promise((res) => setTimeout(res, 200));
    const deliveries = receiver.received.map((h) => h.headers['webhook-id']);
    expect([...deliveries].sort()).toEqual([...ids].sort());
  });

  it("a replica's start removes only its own boxes: the restarted replica 3 sweeps what it left, not 1's or 2's", {
    timeout: 120_000,
  }, async () => {
    const boxesOf = async (name: string) =>
      (await docker.listContainers({ all: true, filters: { label: [`kiln.instance=${name}`] } })).map((c) => c.Id);
    const others = [...(await boxesOf(instance(1))), ...(await boxesOf(instance(2)))];
    const leftovers = await boxesOf(instance(3)); // the SIGKILLed replica's warm box, at least
    expect(others.length).toBeGreaterThan(0);
    expect(leftovers.length).toBeGreaterThan(0);

    replicas[2] = await spawnKiln(env(3));
    const res = await post(r(3), '/v1/execute', { language: 'python', code: 'print("back")' });
    expect(((await res.json()) as { stdout: string }).stdout).toBe('back\n');
    const after = new Set([...(await boxesOf(instance(1))), ...(await boxesOf(instance(2)))]);
    for (const id of others) expect(after.has(id), `box ${id} of another replica`).toBe(true);
    const mine = new Set(await boxesOf(instance(3)));
    for (const id of leftovers) expect(mine.has(id), `leftover ${id}`).toBe(false);
  });

  it('a key made through one replica works on the others, and once revoked through a third is refused at once on every one', {
    timeout: 60_000,
  }, async () => {
    const made = (await (await post(r(1), '/v1/keys', { name: 'replicated', scopes: ['read'] })).json()) as { id: string; secret: string };
    const list = (i: number) => fetch(`${r(i).url}/v1/tools`, { headers: { authorization: `Bearer ${made.secret}` } });
    for (const i of [1, 2, 3]) expect((await list(i)).status).toBe(200);
    const revoked = await fetch(`${r(3).url}/v1/keys/${made.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(revoked.status).toBe(200);
    for (const i of [1, 2, 3]) expect((await list(i)).status).toBe(401);
  });

  it('an OAuth consent spans replicas; a revoked grant and an expired access token are refused on every one', {
    timeout: 60_000,
  }, async () => {
    const redirect = 'http://127.0.0.1:9/callback';
    const registered = await fetch(`${r(1).url}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Replicated', redirect_uris: [redirect], token_endpoint_auth_method: 'none' }),
    });
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const authorize = new URL(`${r(2).url}/oauth/authorize`);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirect,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }))
      authorize.searchParams.set(k, v);
    // the page from replica 2, its form posted to replica 3 (behind one address, as a load balancer would)
    const page = await openConsent(authorize);
    const allowed = await submitConsent(page, r(3).url, { credential: TEST_KEY });
    expect(allowed.status).toBe(303);
    const code = new URL(allowed.headers.get('location')!).searchParams.get('code')!;
    const tokenOn = async (i: number, fields: Record<string, string>) =>
      (await (
        await fetch(`${r(i).url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ client_id: clientId, ...fields }) })
      ).json()) as { access_token: string; refresh_token: string };
    const pair = await tokenOn(1, { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier });
    const list = (i: number, token: string) => fetch(`${r(i).url}/v1/tools`, { headers: { authorization: `Bearer ${token}` } });
    for (const i of [1, 2, 3]) expect((await list(i, pair.access_token)).status).toBe(200);
    // expired (KILN_OAUTH_ACCESS_TOKEN_SECONDS=3) everywhere; its refresh token, on another replica, makes a live one
    await new Promise((r) => setTimeout(r, 3500));
    for (const i of [1, 2, 3]) expect((await list(i, pair.access_token)).status).toBe(401);
    const next = await tokenOn(2, { grant_type: 'refresh_token', refresh_token: pair.refresh_token });
    for (const i of [1, 2, 3]) expect((await list(i, next.access_token)).status).toBe(200);
    const revoked = await fetch(`${r(3).url}/oauth/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: clientId, token: next.refresh_token }),
    });
    expect(revoked.status).toBe(200);
    for (const i of [1, 2, 3]) expect((await list(i, next.access_token)).status).toBe(401);
  });

  it("a run's events reach a client through any replica: a stream lost on one is followed on another, live", {
    timeout: 120_000,
  }, async () => {
    const follow = (i: number, id: string, last?: string) =>
      fetch(`${r(i).url}/v1/executions/${id}/events`, {
        headers: { authorization: `Bearer ${TEST_KEY}`, ...(last ? { 'last-event-id': last } : {}) },
      });
    const printed = (events: Received[]) =>
      events
        .filter((e) => e.event === 'stdout')
        .map((e) => (JSON.parse(e.data) as { text: string }).text)
        .join('');
    const abort = new AbortController();
    const streamed = await fetch(`${r(1).url}/v1/execute`, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        language: 'python',
        code: 'import time\nfor i in range(10):\n    print("r", i, flush=True)\n    time.sleep(0.3)',
      }),
    });
    const before = await readEvents(streamed, 3, abort); // start and two lines through replica 1, then the client goes
    const id = (JSON.parse(before[0]!.data) as { id: string }).id;
    const after = await readEvents(await follow(2, id, before.at(-1)!.id));
    expect(after[0]!.id).toBe(String(Number(before.at(-1)!.id) + 1));
    expect(after.at(-1)!.event).toBe('result');
    const result = JSON.parse(after.at(-1)!.data) as { stdout: string };
    expect(result.stdout).toBe(Array.from({ length: 10 }, (_, i) => `r ${i}\n`).join(''));
    expect(printed([...before, ...after])).toBe(result.stdout);
    // relayed as it was printed: lines reached the client through replica 2 well before the answer
    expect(after.at(-1)!.at - after[0]!.at).toBeGreaterThan(1_000);

    // an async run accepted through replica 3, followed through each replica at once: whole, then its status
    const accepted = await post(
      r(3),
      '/v1/execute',
      { language: 'python', code: 'import time\nfor i in range(4):\n    print("a", i, flush=True)\n    time.sleep(0.4)' },
      { prefer: 'respond-async' },
    );
    const { id: asyncId } = (await accepted.json()) as { id: string };
    const followers = await Promise.all([1, 2, 3].map(async (i) => readEvents(await follow(i, asyncId))));
    for (const events of followers) {
      expect(printed(events)).toBe('a 0\na 1\na 2\na 3\n');
      expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ id: asyncId, status: 'finished' });
    }
    expect((await follow(2, 'exec_nowhere')).status).toBe(404);
  });

  it('a session made through one replica is used through the others (forwarded), and resumed on another when its replica dies', {
    timeout: 120_000,
  }, async () => {
    const created = await call(r(1).url, 'POST', '/v1/sessions', { language: 'python' });
    expect(created.status).toBe(200);
    const id = created.body.id as string;
    // through replica 2: the upload streams on to replica 1, which holds the box
    const put = await fetch(`${r(2).url}/v1/sessions/${id}/files/in.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_KEY}` },
      body: 'uploaded through replica 2',
    });
    expect(put.status).toBe(200);
    expect(put.headers.get('kiln-forwarded')).toMatch(new RegExp(`^${instance(1)}/`));
    const set = await post(r(2), `/v1/sessions/${id}/execute`, { code: 'x = 41' });
    expect(set.headers.get('kiln-forwarded')).toMatch(new RegExp(`^${instance(1)}/`));
    const got = (await (await post(r(3), `/v1/sessions/${id}/execute`, { code: 'print(x + 1, open("in.txt").read())' })).json()) as {
      stdout: string;
    };
    expect(got.stdout).toBe('42 uploaded through replica 2\n');

    // checkpointed a second after that activity; then its replica dies
    for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((res) => setTimeout(res, 250))) {
      const view = (await call(r(2).url, 'GET', `/v1/sessions/${id}`)).body;
      if (view.checkpointed_at && Date.parse(view.checkpointed_at) > Date.parse(view.last_active_at)) break;
    }
    await r(1).kill();
    // within the replica timeout it is still replica 1's (a 503 naming it); past it, replica 2 resumes it
    let resumed: { status: number; body: any } = { status: 0, body: null };
    for (const until = Date.now() + 40_000; Date.now() < until; await new Promise((res) => setTimeout(res, 500))) {
      resumed = await call(r(2).url, 'POST', `/v1/sessions/${id}/execute`, { code: 'print(open("in.txt").read())' });
      if (resumed.status !== 503) break;
      expect(resumed.body.details?.[0]?.reason).toBe('session_elsewhere');
    }
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ restored: true, stdout: 'uploaded through replica 2\n' });
    // and replica 3 now reaches it on replica 2
    const view = await call(r(3).url, 'GET', `/v1/sessions/${id}`);
    expect(view.body).toMatchObject({ status: 'running', restored: true });
    const last = await post(r(3), `/v1/sessions/${id}/execute`, { code: '"x" in globals()' });
    expect(last.headers.get('kiln-forwarded')).toMatch(new RegExp(`^${instance(2)}/`));
    expect((await call(r(3).url, 'DELETE', `/v1/sessions/${id}`)).body).toMatchObject({ status: 'ended', end_reason: 'deleted' });
  });
});

describe('a database that goes away', () => {
  it('not there at start: kiln exits 1 with one line that says why, and no password', { timeout: 60_000 }, async () => {
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const start = spawnKiln({ ...env(5), KILN_DATABASE_URL: `postgres://kiln:${password}@127.0.0.1:1/kiln` });
    await expect(start).rejects.toThrow(/kiln exited with 1: kiln: could not start: .*ECONNREFUSED/);
    await expect(start).rejects.not.toThrow(password);
  });

  it('answers 503 meanwhile, keeps running code, and records what ended while it was away once it is back', {
    timeout: 120_000,
  }, async () => {
    // a database of its own: the three replicas above would take its invocation otherwise
    const solo = `${database}_solo`;
    await admin.query(`create database ${solo}`);
    const direct = new URL(url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    viaProxy.pathname = `/${solo}`;
    const kiln = await spawnKiln({ ...env(4), KILN_DATABASE_URL: viaProxy.toString() });
    try {
      const res = await post(
        kiln,
        '/v1/execute',
        { language: 'python', code: 'import time\ntime.sleep(3)\nprint("survived")' },
        { prefer: 'respond-async' },
      );
      const { id } = (await res.json()) as { id: string };
      for (const deadline = Date.now() + 60_000; !startedBy(kiln).includes(id); ) {
        if (Date.now() > deadline) throw new Error('never started');
        await new Promise((done) => setTimeout(done, 50));
      }
      await proxy.cut();
      const ready = await call(kiln.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.reason).toBe('the database does not answer');
      const read = await call(kiln.url, 'GET', `/v1/executions/${id}`);
      expect(read.status).toBe(503);
      expect(read.body.details).toEqual([{ reason: 'store_unavailable' }]);
      // code still runs: only its log entry is missed
      const sync = await post(kiln, '/v1/execute', { language: 'python', code: 'print(6 * 7)' });
      expect(sync.status).toBe(200);
      expect(((await sync.json()) as { stdout: string }).stdout).toBe('42\n');
      await new Promise((done) => setTimeout(done, 4000)); // the async run ends while the database is away
      await proxy.restore();
      for (const deadline = Date.now() + 30_000; ; ) {
        const { status, body } = await call(kiln.url, 'GET', `/v1/executions/${id}`);
        if (status === 200 && body.status === 'finished') {
          expect(body.details.response.stdout).toBe('survived\n');
          break;
        }
        if (Date.now() > deadline) throw new Error(`not finished after the database came back: ${status} ${JSON.stringify(body)}`);
        await new Promise((done) => setTimeout(done, 250));
      }
      expect((await call(kiln.url, 'GET', '/readyz')).status).toBe(200);
    } finally {
      await kiln.stop();
      await proxy.close();
      await admin.query(`drop database if exists ${solo} with (force)`);
    }
  });
});
