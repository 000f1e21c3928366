// Sessions across kiln's own end: SIGTERM checkpoints and pauses them, a crash leaves the newest
// periodic checkpoint; the next call resumes the session in a fresh box with its files, its env
// and its bound credential, its interpreter fresh and `restored: true` — and neither the files nor
// the credential are in the database file in clear. Paused sessions keep their deadlines.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_INSTANCE, TEST_KEY, TEST_OCI_RUNTIME } from '../helpers/kiln.js';
import { type KilnProcess, spawnKiln } from '../helpers/kiln-process.js';
import { POSTGRES_MODE } from '../helpers/postgres.js';
import { type AuthUpstream, startAuthUpstream } from '../helpers/upstream.js';

const HOST = 'restore.test.internal';
const TOKEN = `tok_${randomBytes(12).toString('hex')}`;
const MARKER = `file-marker-${randomBytes(8).toString('hex')}`;
let upstream: AuthUpstream;
let env: Record<string, string> & { KILN_DATA_DIR: string };
let kiln: KilnProcess | null = null;

const start = async () => (kiln = await spawnKiln(env));
const api = (method: string, path: string, body?: unknown) => call(kiln!.url, method, path, body);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function until<T>(what: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 250))) {
    const v = await what();
    if (done(v) || Date.now() > end) return v;
  }
}
async function fileBytes(id: string, path: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(`${kiln!.url}/v1/sessions/${id}/files/${path}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

beforeAll(async () => {
  upstream = await startAuthUpstream(HOST, TOKEN);
  env = {
    ...upstream.env,
    KILN_DATA_DIR: mkdtempSync(join(tmpdir(), 'kiln-restore-')),
    KILN_INSTANCE: `${TEST_INSTANCE}-restore`,
    KILN_OCI_RUNTIME: TEST_OCI_RUNTIME,
    KILN_POOL_PYTHON: '1',
    KILN_POOL_JAVASCRIPT: '0',
    KILN_POOL_TYPESCRIPT: '0',
    KILN_SESSION_CHECKPOINT_SECONDS: '1',
  };
  await start();
}, 60_000);
afterAll(async () => {
  await kiln?.stop();
  upstream?.close();
});

describe('a session across a restart of its kiln', () => {
  it('SIGTERM pauses it with its files; the next call resumes it restored, credential and all, nothing of it in clear on disk', {
    timeout: 180_000,
  }, async () => {
    const secret = await api('POST', '/v1/secrets', { name: 'restore-token', value: TOKEN });
    const created = await api('POST', '/v1/sessions', {
      language: 'python',
      env: { GREETING: 'hello again' },
      http: { allow: [{ host: HOST, auth: { bearer: { secret_id: secret.body.id } } }] },
      files: [{ path: 'first.txt', contents: 'from the create' }],
    });
    expect(created.status).toBe(200);
    const id = created.body.id as string;
    const blob = randomBytes(3 * 1024 * 1024); // past a chunk once gzipped (random bytes do not shrink)
    const put = await fetch(`${kiln!.url}/v1/sessions/${id}/files/data/blob.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TEST_KEY}` },
      body: blob,
    });
    expect(put.status).toBe(200);
    // the marker is made in the box (the code, which the log keeps, holds it reversed)
    const wrote = await api('POST', `/v1/sessions/${id}/execute`, {
      code: `import os\nos.makedirs("deep/er", exist_ok=True)\nopen("deep/er/note.txt", "w").write("${[...MARKER].reverse().join('')}"[::-1])\nos.symlink("note.txt", "deep/er/link")\nx = 41`,
    });
    expect(wrote.body).toMatchObject({ error: null, restored: false });

    expect(await kiln!.stop()).toBe(0);
    await start();
    const paused = await api('GET', `/v1/sessions/${id}`);
    expect(paused.body).toMatchObject({ status: 'paused', restored: false, checkpointed_at: expect.any(String) });

    // nothing of the workspace or the credential in the database's files in clear (the WAL too)
    if (!POSTGRES_MODE)
      for (const name of readdirSync(env.KILN_DATA_DIR).filter((f) => f.startsWith('kiln.db'))) {
        const bytes = readFileSync(join(env.KILN_DATA_DIR, name));
        expect(bytes.includes(MARKER), name).toBe(false);
        expect(bytes.includes(TOKEN), name).toBe(false);
        expect(bytes.includes(blob.subarray(0, 64)), name).toBe(false);
      }

    const code = [
      'import json, os, urllib.request',
      'state = "x" in globals()',
      `reply = json.loads(urllib.request.urlopen("https://${HOST}:${upstream.port}/after").read())`,
      'print(state, os.environ["GREETING"], open("deep/er/link").read(), open("first.txt").read(), reply["authorized"])',
    ].join('\n');
    const resumed = await api('POST', `/v1/sessions/${id}/execute`, { code });
    expect(resumed.body).toMatchObject({ restored: true, restarted: true, error: null });
    expect(resumed.body.stdout).toBe(`False hello again ${MARKER} from the create True\n`);
    expect(upstream.seen.at(-1)).toBe(`Bearer ${TOKEN}`);
    const again = await api('POST', `/v1/sessions/${id}/execute`, { code: 'y = 1' });
    expect(again.body).toMatchObject({ restored: false, restarted: false });
    expect(sha((await fileBytes(id, 'data/blob.bin')).bytes)).toBe(sha(blob));
    expect((await api('GET', `/v1/sessions/${id}`)).body).toMatchObject({ status: 'running', restored: true });
    expect((await api('DELETE', `/v1/sessions/${id}`)).body).toMatchObject({ status: 'ended', end_reason: 'deleted' });
  });

  it('after a crash it resumes from the newest periodic checkpoint; a paused session ends at its deadline or when deleted', {
    timeout: 180_000,
  }, async () => {
    const a = (await api('POST', '/v1/sessions', { language: 'python' })).body.id as string;
    const idle = (await api('POST', '/v1/sessions', { language: 'python', idle_timeout_seconds: 3 })).body.id as string;
    const b = (await api('POST', '/v1/sessions', { language: 'python' })).body.id as string;
    await api('POST', `/v1/sessions/${a}/commands`, { cmd: 'echo checkpointed > kept.txt' });
    // the periodic checkpoint (1 s after activity) has it once the session says so
    const seen = await until(
      () => api('GET', `/v1/sessions/${a}`),
      (r) => r.body.checkpointed_at !== null && Date.parse(r.body.checkpointed_at) > Date.parse(r.body.last_active_at),
    );
    expect(seen.body.checkpointed_at).not.toBeNull();
    await kiln!.kill();
    await start();
    // paused by the new start's first sweep (which may come just after it listens)
    expect(
      (
        await until(
          () => api('GET', `/v1/sessions/${a}`),
          (r) => r.body.status === 'paused',
          5000,
        )
      ).body.status,
    ).toBe('paused');
    expect((await fileBytes(a, 'kept.txt')).bytes.toString()).toBe('checkpointed\n');
    expect((await api('GET', `/v1/sessions/${a}`)).body).toMatchObject({ status: 'running', restored: true });
    // paused, its idle deadline runs on: ended by the sweep, not resumed
    const ended = await until(
      () => api('GET', `/v1/sessions/${idle}`),
      (r) => r.body.status === 'ended',
    );
    expect(ended.body).toMatchObject({ status: 'ended', end_reason: 'idle_timeout' });
    expect((await api('POST', `/v1/sessions/${idle}/execute`, { code: '1' })).status).toBe(409);
    expect((await api('DELETE', `/v1/sessions/${b}`)).body).toMatchObject({ status: 'ended', end_reason: 'deleted' });
    await api('DELETE', `/v1/sessions/${a}`);
  });
});
